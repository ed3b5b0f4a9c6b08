"""dagc.lowering"""

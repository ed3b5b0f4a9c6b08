"""dagc.passes"""

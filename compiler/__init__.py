"""dagc.compiler"""

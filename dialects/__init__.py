"""dagc.dialects"""

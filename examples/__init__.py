"""dagc.examples"""

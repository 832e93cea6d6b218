"""Structure design tools: compare structures, sweep a grid of them, solve for one.

All of them evaluate structures on common random numbers (bondmodel.design.measures).
"""

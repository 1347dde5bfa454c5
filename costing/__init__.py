"""What serving the model costs per month on each platform, and where the cost lines cross.

The package is pure: no I/O except reading the price file, no matplotlib unless a plot is asked
for. `cost_analysis.py` at the repository root is the command-line shell around it.
"""

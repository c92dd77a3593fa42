"""Research helpers of the bench scripts and experiment drivers, not installed with wsal.

``multiseed`` (train / localize / evaluate over seeds), ``piecewise`` (synthetic piecewise-constant
sequences with planted change points) and ``kernel_cpd`` (the classical kernel change-point
baseline). Bench scripts run as ``python bench/SCRIPT.py`` import them as ``research.*`` (their
folder is on ``sys.path``); the tests find them through pytest's ``pythonpath`` setting.
"""

"""Library behind the alignment-tax workflow: one module per concern.

Rule scripts in ``workflow_scripts/`` are thin: they read ``snakemake.input/params/output``
and call into this package, which the tests import directly.
"""

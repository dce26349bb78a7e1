"""Pure 3D container-loading algorithms: instances, strategies, verification, rendering.

No Ray, no MLflow, no printing: every function returns values. The orchestrator's
``pack`` command drives these and does all I/O.
"""

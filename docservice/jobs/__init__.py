"""The running service: its runtime, the job registry and runner, the queue, the jobs.

Every module that defines jobs is listed in `registry.JOB_MODULES`; a runtime loads them.
"""

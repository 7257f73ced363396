"""The running service: its runtime, the job registry and runner, the queue, the jobs."""

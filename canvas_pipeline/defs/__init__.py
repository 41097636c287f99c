"""The Dagster layer: assets, checks, jobs and resources that wire the domain code. Nothing
here computes anything the domain modules do not.

This is `dg`'s defs folder: `canvas_pipeline.definitions` loads every module in it, so what
a module defines at module level (assets, asset specs, checks, jobs, sensors, schedules) or
returns from a `@dg.definitions` function is in the definitions without being listed
anywhere; a file `dg scaffold defs ...` writes here is loaded as it is. Import another
module's jobs or checks through the module (`jobs.data_job`), not by name, or the loader
finds them in both."""

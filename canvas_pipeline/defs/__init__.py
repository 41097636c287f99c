"""The Dagster layer: assets, checks, jobs and resources that wire the domain code. Nothing
here computes anything the domain modules do not."""

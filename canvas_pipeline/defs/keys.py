"""Asset keys that two asset modules both need (so neither imports the other)."""

import dagster as dg

SFT_KEY = dg.AssetKey(["models", "sft"])
ON_POLICY_KEY = dg.AssetKey(["on_policy", "preference_data"])

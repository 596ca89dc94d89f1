"""Many scenarios: execution in parallel, retries, sharding."""

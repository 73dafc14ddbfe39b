"""Musical logic as plain functions over bytes and numpy arrays: no Spark, no Ray."""

"""The HTTP API: personal recommendations and similar items over the promoted model version."""

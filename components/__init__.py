"""Pulumi ComponentResources: one module per vendor; they know vendors, never YAML."""

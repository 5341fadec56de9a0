"""The policy model: strict loading, validation and frozen typed specs (no Pulumi import)."""

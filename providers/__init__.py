"""Dynamic Pulumi providers and the one shared HTTP client they use."""

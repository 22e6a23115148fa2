"""Pure evaluation functions: metrics, splits, validation of a tenant."""

"""Protocol tests: dynamic providers driven through Pulumi's own provider host over gRPC."""

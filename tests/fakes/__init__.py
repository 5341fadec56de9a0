"""Test fakes of vendor APIs, served over real HTTP on loopback."""

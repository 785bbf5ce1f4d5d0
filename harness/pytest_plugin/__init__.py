"""pytest plugin: collects scenarios/*.yaml as test items (registered through the pytest11 entry point)."""

pytest_plugins = ["services.kit.testing"]

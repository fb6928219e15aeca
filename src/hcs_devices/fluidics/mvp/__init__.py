"""Hamilton MVP selector valve daisy chain: wire protocol, driver, emulator, backend."""

"""Serial plumbing shared by the drivers and emulators of serial devices."""

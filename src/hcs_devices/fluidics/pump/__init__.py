"""Peristaltic pumps: GSIOC link, Gilson Minipuls 3 driver, emulator, backend."""

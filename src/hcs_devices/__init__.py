"""Hardware of a Squid-class microscope as ophyd-async devices.

Each device has a simulated backend; serial hardware has a real driver and an
emulator that speaks the same wire protocol on a pseudo-terminal.
"""

"""The fake camera's command line refuses a Line0 port outside the UDP range."""

from __future__ import annotations

import pytest

from hcs_devices.camera.genicam.fake_camera import main


@pytest.mark.parametrize("port", ["-1", "65536"])
def test_fake_camera_refuses_a_line_port_outside_the_udp_range(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--line-port", port])
    assert raised.value.code == 2
    assert f"--line-port must be in 0..65535, got {port}" in capsys.readouterr().err

"""ONVIF discovery in and out of the API."""

from __future__ import annotations

from pydantic import ConfigDict, Field, SecretStr, field_validator

from safecity.cameras.onvif import service as onvif
from safecity.core.schemas import InModel, OutModel


class DiscoverIn(InModel):
    """A subnet to scan, and optionally the ONVIF login to read what each camera streams."""

    # A camera password is whatever was set on the camera: trimming it would change it.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    network: str = Field(max_length=64, examples=["10.20.30.0/24"])
    ports: list[int] | None = Field(default=None, min_length=1, max_length=8)
    username: str | None = Field(default=None, max_length=64)
    password: SecretStr | None = Field(default=None, max_length=128)

    @field_validator("network", "username")
    @classmethod
    def _trim(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @field_validator("ports")
    @classmethod
    def _valid_ports(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 0 < p < 65536 for p in value):
            raise ValueError("ports must be between 1 and 65535")
        return value


class ProfileOut(OutModel):
    token: str
    name: str
    encoding: str | None
    width: int | None
    height: int | None
    fps: float | None
    stream_uri: str | None = Field(description="RTSP URI without credentials")


class DeviceOut(OutModel):
    host: str
    port: int
    xaddrs: list[str]
    scopes: list[str]
    found_by: list[str] = Field(description='"ws-discovery" and/or "device_service"')
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    clock_skew_seconds: float | None = Field(default=None, description="camera clock minus ours")
    profiles: list[ProfileOut] = Field(default_factory=list)
    accepts_default_password: bool | None = Field(
        description="true: refuse this camera until its password is changed; null: could not be checked"
    )
    error: str | None = None


class DiscoverOut(OutModel):
    network: str
    devices: list[DeviceOut]


def device_out(device: onvif.Surveyed) -> DeviceOut:
    info = device.info
    return DeviceOut(
        host=device.found.host,
        port=device.found.port,
        xaddrs=list(device.found.xaddrs),
        scopes=list(device.found.scopes),
        found_by=list(device.found.methods),
        manufacturer=info.manufacturer if info else None,
        model=info.model if info else None,
        firmware=info.firmware if info else None,
        serial=info.serial if info else None,
        clock_skew_seconds=info.clock_skew_seconds if info else None,
        profiles=[ProfileOut.model_validate(p) for p in info.profiles] if info else [],
        accepts_default_password=device.accepts_default_password,
        error=device.error,
    )

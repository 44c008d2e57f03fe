"""Evidence photos are decoded, not trusted: the format is the decoded image's, a picture of too many pixels is
refused before it is decoded, and what is stored and served is a fresh encoding of the pixels alone (no EXIF, GPS,
XMP, comment or colour profile), turned as the camera meant. Served so that no browser runs it as anything else."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from ledger.core.settings import Settings
from tests.api.claiming import upload
from tests.api.conftest import World, bearer, villager_token

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def camera_photo() -> bytes:
    """A 64×32 JPEG as a phone sends it: taken sideways (orientation 6: turn 90° clockwise to show), with the
    maker, the place (GPS), a comment, XMP and a colour profile."""
    image = Image.new("RGB", (64, 32), (200, 30, 30))
    ImageDraw.Draw(image).rectangle((0, 0, 15, 31), fill=(20, 20, 220))  # a blue band on the left
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[ORIENTATION] = 6
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (30.0, 15.0, 7.5), 3: "E", 4: (120.0, 9.0, 1.25)})
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description secret="home-address"/></rdf:RDF></x:xmpmeta>'
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, comment=b"taken at home", xmp=xmp, icc_profile=b"\0" * 128, quality=95)
    return buffer.getvalue()


def png_claiming_huge_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height pixels of 1 bit, with little data: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def villager(client: TestClient, world: World) -> str:
    return villager_token(client, world.villager_phone)


def test_what_is_stored_and_served_has_no_metadata_and_is_turned_upright(
    client: TestClient, villager: str, settings: Settings
) -> None:
    sent = camera_photo()
    assert Image.open(io.BytesIO(sent)).getexif().get_ifd(GPS_IFD)  # the upload does carry the place
    made = upload(client, villager, sent)
    assert made.status_code == 201, made.text
    served = client.get(f"/api/v1/evidence/{made.json()['id']}", headers=bearer(villager))
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    stored = (
        Path(settings.upload_dir) / made.json()["sha256"][:2] / made.json()["sha256"][2:4] / made.json()["sha256"]
    ).read_bytes()
    assert served.content == stored
    for content in (served.content, stored):
        image = Image.open(io.BytesIO(content))
        assert image.format == "JPEG"
        assert dict(image.getexif()) == {} and not image.getexif().get_ifd(GPS_IFD)
        assert not {"exif", "xmp", "icc_profile", "comment"} & set(image.info)
        for secret in (b"PhoneMaker", b"home-address", b"taken at home", b"Exif"):
            assert secret not in content
        assert image.size == (32, 64)  # turned upright, as the camera meant
        top, bottom = image.convert("RGB").getpixel((16, 2)), image.convert("RGB").getpixel((16, 60))
        assert isinstance(top, tuple) and isinstance(bottom, tuple)  # an RGB pixel is (red, green, blue)
        assert top[2] > 150  # the blue band is now on top
        assert bottom[0] > 150


def test_the_format_is_the_decoded_images_not_the_name_or_the_first_bytes(client: TestClient, villager: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (1, 2, 3)).save(buffer, "PNG")
    png = upload(client, villager, buffer.getvalue(), name="photo.jpg")  # a PNG called a JPEG
    assert png.status_code == 201
    served = client.get(f"/api/v1/evidence/{png.json()['id']}", headers=bearer(villager))
    assert served.headers["content-type"] == "image/png" and Image.open(io.BytesIO(served.content)).format == "PNG"

    webp = io.BytesIO()
    Image.new("RGB", (20, 10), (1, 2, 3)).save(webp, "WEBP")
    assert upload(client, villager, webp.getvalue()).status_code == 201

    gif = io.BytesIO()
    Image.new("RGB", (20, 10)).save(gif, "GIF")
    html = b"\xff\xd8\xff\xe0<html><script>alert(document.cookie)</script></html>"  # JPEG's first bytes, no JPEG
    for content in (gif.getvalue(), html, b"\x89PNG\r\n\x1a\n" + bytes(64)):
        refused = upload(client, villager, content)
        assert refused.status_code == 415 and refused.json()["code"] == "evidence_type", refused.text


def test_a_picture_of_too_many_pixels_is_refused_before_it_is_decoded(
    client: TestClient, villager: str, settings: Settings
) -> None:
    bomb = png_claiming_huge_size(30000, 30000)  # 900 million pixels in a few kilobytes
    assert len(bomb) < 10_000
    refused = upload(client, villager, bomb)
    assert refused.status_code == 413 and refused.json()["code"] == "evidence_too_many_pixels", refused.text
    assert refused.json()["limit"] == settings.evidence_max_pixels


def test_a_photo_is_served_so_that_no_browser_runs_it(client: TestClient, villager: str) -> None:
    made = upload(client, villager).json()
    served = client.get(f"/api/v1/evidence/{made['id']}", headers=bearer(villager))
    assert served.status_code == 200
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"] == f'inline; filename="photo-{made["id"]}.jpg"'
    assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert served.headers["cache-control"] == "private, no-store"

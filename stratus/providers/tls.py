"""The cluster's own certificate authority: how agents on other machines know their head node.

A cluster whose nodes run beyond this machine serves its agent port over TLS. Its trust is
private to the cluster: ``create-cluster`` makes a CA (an ECDSA P-256 key and a self-signed
certificate, in the cluster directory), the head node issues itself a server certificate from it
each time it starts (for the address agents dial, so a changed ``HeadNodeAddress`` is covered),
and every agent gets the CA certificate and trusts nothing else. Private keys are written with
mode 0600 and never leave the cluster directory. TLS authenticates the head node to the agents
and encrypts their traffic; agents still prove who they are with their join credential and node
secret, as on this machine.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stratus.paths import ClusterPaths

_CA_DAYS = 3650
_SERVER_DAYS = 825


def ca_cert_path(paths: ClusterPaths) -> Path:
    """The CA certificate (public): what agents trust."""
    return paths.root / "ca.pem"


def _ca_key_path(paths: ClusterPaths) -> Path:
    return paths.root / "ca.key"


def _server_paths(paths: ClusterPaths) -> tuple[Path, Path]:
    return paths.root / "agent-tls.pem", paths.root / "agent-tls.key"


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable by its owner only, replacing ``path`` atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ensure_ca(paths: ClusterPaths) -> Path:
    """The cluster's CA certificate, created (with its key) if the cluster has none yet."""
    cert_path = ca_cert_path(paths)
    if cert_path.exists() and _ca_key_path(paths).exists():
        return cert_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"stratus cluster {paths.name} CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_private(_ca_key_path(paths), _key_pem(key))
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def server_context(paths: ClusterPaths, address: str) -> ssl.SSLContext:
    """A TLS server context for the agent port, with a certificate for ``address`` (an IP
    address or a host name) freshly issued by the cluster's CA (created if missing)."""
    ensure_ca(paths)
    ca_key = serialization.load_pem_private_key(_ca_key_path(paths).read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{_ca_key_path(paths)} is not the cluster's CA key")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path(paths).read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(address))
    except ValueError:
        san = x509.DNSName(address)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = _server_paths(paths)
    _write_private(key_path, _key_pem(key))
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_path, key_path)
    return ctx

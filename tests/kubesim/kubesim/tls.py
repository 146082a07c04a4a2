"""A CA and a serving certificate generated at start, so clients verify TLS for real (validate_certs, ca_cert),
and a client CA (the apiserver's --client-ca-file) whose certificates authenticate their subject: the CN is the user
and each O a group, as the x509 authenticator (k8s.io/apiserver/pkg/authentication/request/x509) reads them."""
from __future__ import annotations

import datetime
import ipaddress
import os
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _ca(common_name: str, now):
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    return ca_key, ca_name, ca_cert


class ClientCA:
    """Signs client certificates that kubesim accepts: subject CN = user, O = groups."""

    def __init__(self):
        self.key, self.name, self.cert = _ca("kubesim-client-ca", datetime.datetime.now(datetime.timezone.utc))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, user: str, groups=(), days: float = 30) -> tuple[bytes, bytes]:
        """(certificate PEM, private key PEM) for `user` in `groups`, valid for `days` (client auth only)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        key = _key()
        cert = (x509.CertificateBuilder().subject_name(x509.Name(subject)).issuer_name(self.name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                             crl_sign=False, content_commitment=False, data_encipherment=False,
                                             key_agreement=False, encipher_only=False, decipher_only=False),
                               critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def user_from_peercert(peercert: dict | None) -> tuple[str, tuple] | None:
    """(user, groups) from a verified client certificate as ssl.getpeercert() gives it, or None."""
    if not peercert:
        return None
    cn, groups = "", []
    for rdn in peercert.get("subject") or ():
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                groups.append(value)
    if not cn:
        return None
    return cn, tuple(groups)


def generate(host: str, state_dir: str, client_ca: ClientCA | None = None) -> tuple[ssl.SSLContext, bytes, str, str]:
    """Returns (server SSLContext, CA PEM bytes, cert path, key path). With `client_ca`, clients may present a
    certificate it signed (optional, as the apiserver's RequestClientCert)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, ca_name, ca_cert = _ca("kubesim-ca", now)
    key = _key()
    sans = [x509.DNSName("localhost"), x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"), x509.DNSName("kubernetes.default.svc.cluster.local"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1")),
            x509.IPAddress(ipaddress.ip_address("10.96.0.1"))]
    try:
        ip = ipaddress.ip_address(host)
        if x509.IPAddress(ip) not in sans:
            sans.append(x509.IPAddress(ip))
    except ValueError:
        if host and x509.DNSName(host) not in sans:
            sans.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    cert_path = os.path.join(state_dir, "apiserver.crt")
    key_path = os.path.join(state_dir, "apiserver.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(_pem_key(key))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cadata=client_ca.pem.decode())
    return ctx, ca_pem, cert_path, key_path

"""The simulator's OAuth: its own service account (a throwaway key made at run time, held in
memory) and the RFC 7523 JWT-bearer token grant google-auth makes with it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    email: str
    key_id: str
    private_pem: str
    public_pem: str

    @classmethod
    def create(cls, project: str) -> ServiceAccount:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        return cls(f"soar-auditor@{project}.iam.gserviceaccount.com", secrets.token_hex(8),
                   private, public)

    def info(self, token_uri: str) -> dict[str, Any]:
        return {"type": "service_account", "project_id": self.email.split("@")[1].split(".")[0],
                "private_key_id": self.key_id, "private_key": self.private_pem,
                "client_email": self.email, "client_id": "100000000000000000001",
                "token_uri": token_uri}

    def verify(self, assertion: str, audience: str) -> bool:
        from google.auth import exceptions, jwt

        # google-auth addresses its assertions to Google's token endpoint whatever token_uri
        # says; both are accepted.
        audiences = [audience, "https://oauth2.googleapis.com/token"]
        try:
            claims = jwt.decode(assertion, certs=self.public_pem,  # type: ignore[no-untyped-call]
                                audience=audiences)
        except (ValueError, TypeError, exceptions.GoogleAuthError):
            return False
        return bool(claims.get("iss") == self.email)

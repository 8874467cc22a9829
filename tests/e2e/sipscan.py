"""A SIPVicious-style scanner in a few lines: raw SIP over UDP, one request, its answer.

svwar (SIPVicious) finds extensions by sending REGISTER, OPTIONS or INVITE with
From = To = the guessed extension and comparing the answers: a PBX that answers a
real extension differently from a missing one gives its directory away. svcrack
then guesses the password of each extension found (answer the 401 challenge).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
from dataclasses import dataclass

SDP = (
    "v=0\r\no=scan 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


@dataclass(frozen=True)
class SipAnswer:
    status: int
    headers: dict[str, str]

    @property
    def challenge(self) -> dict[str, str]:
        """The WWW-Authenticate parameters (realm, nonce, algorithm, qop, ...)."""
        return dict(re.findall(r'(\w+)="?([^",]*)"?', self.headers.get("www-authenticate", "")))


def sip_request(
    method: str, user: str, target: tuple[str, int], *, source_ip: str = "127.0.0.1",
    password: str | None = None, timeout: float = 5.0,
) -> SipAnswer:
    """Send one `method` for `user` from `source_ip` and return its final answer. With a
    `password`, a 401 is answered once with a digest (a login attempt)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source_ip, 0))
        sock.settimeout(timeout)
        dialog = _Dialog(method, user, target, source_ip, sock.getsockname()[1])
        answer = dialog.send(sock)
        if answer.status == 401 and password is not None:
            answer = dialog.send(sock, authorization=dialog.digest(answer, password))
        return answer


class _Dialog:
    def __init__(
        self, method: str, user: str, target: tuple[str, int], source_ip: str, port: int
    ) -> None:
        self.method, self.user, self.target = method, user, target
        host, remote_port = target
        self.uri = (f"sip:{host}:{remote_port}" if method == "REGISTER"
                    else f"sip:{user}@{host}:{remote_port}")
        self.source = f"{source_ip}:{port}"
        self.tag, self.call_id = secrets.token_hex(6), secrets.token_hex(12)
        self.cseq = 0

    def send(self, sock: socket.socket, authorization: str | None = None) -> SipAnswer:
        self.cseq += 1
        branch = f"z9hG4bK{secrets.token_hex(8)}"
        host = self.target[0]
        body = SDP.format(ip=self.source.split(":")[0]) if self.method == "INVITE" else ""
        head = [
            f"{self.method} {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.source};branch={branch};rport",
            f"From: <sip:{self.user}@{host}>;tag={self.tag}",
            f"To: <sip:{self.user}@{host}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {self.method}",
            f"Contact: <sip:{self.user}@{self.source}>",
            "Max-Forwards: 70",
            "User-Agent: friendly-scanner",
            *([f"Authorization: {authorization}"] if authorization else []),
            *(["Content-Type: application/sdp"] if body else []),
            f"Content-Length: {len(body.encode())}",
        ]
        sock.sendto(("\r\n".join(head) + "\r\n\r\n" + body).encode(), self.target)
        while True:
            answer = _parse(sock.recv(65535).decode(errors="replace"))
            if answer.status >= 200:
                break
        if self.method == "INVITE":
            self._ack(sock, branch, answer)
        return answer

    def _ack(self, sock: socket.socket, branch: str, answer: SipAnswer) -> None:
        host = self.target[0]
        common = [
            f"Via: SIP/2.0/UDP {self.source};branch={branch};rport",
            f"From: <sip:{self.user}@{host}>;tag={self.tag}",
            f"To: {answer.headers.get('to', '')}", f"Call-ID: {self.call_id}",
            "Max-Forwards: 70", "Content-Length: 0",
        ]
        ack = [f"ACK {self.uri} SIP/2.0", *common, f"CSeq: {self.cseq} ACK"]
        sock.sendto(("\r\n".join(ack) + "\r\n\r\n").encode(), self.target)
        if answer.status < 300:  # answered: hang up at once
            self.cseq += 1
            bye = [f"BYE {self.uri} SIP/2.0", *common, f"CSeq: {self.cseq} BYE"]
            sock.sendto(("\r\n".join(bye) + "\r\n\r\n").encode(), self.target)

    def digest(self, answer: SipAnswer, password: str) -> str:
        """RFC 2617 digest (MD5, qop=auth) for this request."""
        c = answer.challenge
        cnonce, nc = secrets.token_hex(8), "00000001"
        ha1 = _md5(f"{self.user}:{c['realm']}:{password}")
        ha2 = _md5(f"{self.method}:{self.uri}")
        response = _md5(f"{ha1}:{c['nonce']}:{nc}:{cnonce}:auth:{ha2}")
        return (f'Digest username="{self.user}",realm="{c["realm"]}",nonce="{c["nonce"]}",'
                f'uri="{self.uri}",response="{response}",algorithm=MD5,qop=auth,nc={nc},'
                f'cnonce="{cnonce}",opaque="{c.get("opaque", "")}"')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # SIP digest is MD5


def _parse(text: str) -> SipAnswer:
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return SipAnswer(status=int(head[0].split()[1]), headers=headers)

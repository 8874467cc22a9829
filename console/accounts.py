"""The admin's changes to the console's users: add one, set a password, change a role or
an agency, disable and re-enable. The rules a person must follow are checked here, in
one place, before the store is asked (which keeps its own: one agency for an agency
user, never without an active admin):

- a password follows `console.passwords.weakness` (10 to 256 characters, not only spaces,
  not the user name) and is typed twice the same;
- an agency user belongs to an agency of the YAML; the other roles to none;
- a user works at a desk of the YAML, and at most one user at each desk;
- an admin neither disables nor changes the role of their own account (another admin
  does), so nobody locks themself out by a slip.

Whatever the person must correct is a `Refused` with a Vietnamese message. Who may do it
is not checked here: the routes ask `console.access` first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from calllog.users import (
    DeskTakenError,
    DuplicateUserError,
    LastAdminError,
    Role,
    UnknownUserError,
    User,
    Users,
)
from console.casework import Refused
from console.pages import ROLE_NAMES
from console.passwords import MAX_LENGTH, MIN_LENGTH, Weakness, hash_password, weakness

WEAKNESS_TEXT = {
    Weakness.SHORT: f"Mật khẩu cần ít nhất {MIN_LENGTH} ký tự.",
    Weakness.LONG: f"Mật khẩu dài tối đa {MAX_LENGTH} ký tự.",
    Weakness.BLANK: "Mật khẩu không được chỉ gồm khoảng trắng.",
    Weakness.IS_USERNAME: "Mật khẩu không được trùng với tên đăng nhập.",
}


def _last_admin(username: str) -> Refused:
    return Refused(f"«{username}» là quản trị viên cuối cùng đang hoạt động: không thể "
                   "vô hiệu hóa hay đổi vai trò. Hãy tạo hoặc kích hoạt một quản trị "
                   "viên khác trước.")


@dataclass(frozen=True)
class Accounts:
    users: Users

    async def add(self, *, username: str, role: str, agency: str, password: str,
                  again: str, agencies: Collection[str], at: datetime) -> User:
        username = username.strip()
        if not username or len(username) > 64:
            raise Refused("Tên đăng nhập cần từ 1 đến 64 ký tự.")
        chosen = _role(role)
        bound = _agency(chosen, agency, agencies)
        password_hash = await _hashed(password, again, username)
        try:
            return await self.users.add(username, chosen, bound, password_hash, at=at)
        except DuplicateUserError as exc:
            raise Refused(f"Tên đăng nhập «{username}» đã có. Vui lòng chọn tên khác.") \
                from exc

    async def set_password(self, target: User, *, password: str, again: str,
                           at: datetime) -> None:
        password_hash = await _hashed(password, again, target.username)
        try:
            await self.users.set_password(target.username, password_hash, at=at)
        except UnknownUserError as exc:
            raise Refused("Không tìm thấy người dùng này.") from exc

    async def set_role(self, by: User, target: User, *, role: str, agency: str,
                       agencies: Collection[str], at: datetime) -> None:
        if target.id == by.id:
            raise Refused("Quý vị không thể tự đổi vai trò của mình; hãy nhờ một quản trị "
                          "viên khác.")
        chosen = _role(role)
        bound = _agency(chosen, agency, agencies)
        try:
            await self.users.set_role(target.username, chosen, bound, at=at)
        except LastAdminError as exc:
            raise _last_admin(target.username) from exc
        except UnknownUserError as exc:
            raise Refused("Không tìm thấy người dùng này.") from exc

    async def set_active(self, by: User, target: User, *, active: bool,
                         at: datetime) -> None:
        if target.id == by.id and not active:
            raise Refused("Quý vị không thể tự vô hiệu hóa tài khoản của mình.")
        try:
            await self.users.set_active(target.username, active, at=at)
        except LastAdminError as exc:
            raise _last_admin(target.username) from exc
        except UnknownUserError as exc:
            raise Refused("Không tìm thấy người dùng này.") from exc

    async def set_desk(self, target: User, *, desk: str, desks: Collection[str],
                       at: datetime) -> str | None:
        """Bind `target` to `desk` (empty: to no desk); the desk bound."""
        wanted = desk.strip() or None
        if wanted is not None and wanted not in desks:
            raise Refused(f"Bàn «{wanted}» không có trong cấu hình.")
        try:
            await self.users.set_desk(target.username, wanted, at=at)
        except DeskTakenError as exc:
            raise Refused(f"Bàn {wanted} đã được gán cho người dùng «{exc.holder}»; hãy bỏ "
                          "gán ở người đó trước.") from exc
        except UnknownUserError as exc:
            raise Refused("Không tìm thấy người dùng này.") from exc
        return wanted


def _role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise Refused("Vui lòng chọn vai trò.") from None


def _agency(role: Role, raw: str, agencies: Collection[str]) -> str | None:
    agency = raw.strip()
    if role is not Role.AGENCY:
        if agency:
            raise Refused(f"Chỉ người dùng vai trò «{ROLE_NAMES[Role.AGENCY]}» mới thuộc một "
                          f"cơ quan; với vai trò «{ROLE_NAMES[role]}» hãy để trống ô Cơ quan.")
        return None
    if not agency:
        raise Refused(f"Người dùng vai trò «{ROLE_NAMES[Role.AGENCY]}» phải thuộc một cơ "
                      "quan: vui lòng chọn cơ quan.")
    if agency not in agencies:
        raise Refused(f"Cơ quan «{agency}» không có trong cấu hình.")
    return agency


async def _hashed(password: str, again: str, username: str) -> str:
    weak = weakness(password, username)
    if weak is not None:
        raise Refused(WEAKNESS_TEXT[weak])
    if password != again:
        raise Refused("Hai lần nhập mật khẩu không khớp.")
    # argon2 takes tens of milliseconds of CPU: off the event loop.
    return await asyncio.to_thread(lambda: hash_password(password, username=username))

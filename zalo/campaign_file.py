"""A survey campaign's list as an operator uploads it: a CSV or xlsx of (phone,
procedure, agency, date), read into the rows accepted and the rows refused with why.

The first row may name the columns (Vietnamese or English: "Số điện thoại" / "phone",
"Thủ tục" / "procedure", "Cơ quan" / "agency", "Ngày" / "date"); without such a row
the columns are taken in that order. Dates are dd/mm/yyyy (or yyyy-mm-dd, or an Excel
date). A number must be a Vietnamese mobile (ZNS reaches nothing else); a number met
again in the same file is refused as a duplicate (the survey goes to it once).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import date, datetime

from openpyxl import load_workbook

from calllog.campaigns import (
    AcceptedRow,
    CampaignFile,
    CampaignLine,
    RefusedRow,
    UnreadableFile,
)
from zalo.phones import NotAMobileNumber, normalise_mobile

MAX_ROWS = 20_000
COLUMNS = ("phone", "procedure", "agency", "date")
HEADERS = {
    "phone": {"phone", "so dien thoai", "sdt", "dien thoai", "so dt"},
    "procedure": {"procedure", "thu tuc", "thu tuc hanh chinh", "ten thu tuc"},
    "agency": {"agency", "co quan", "don vi", "co quan giai quyet"},
    "date": {"date", "ngay", "ngay hoan thanh", "ngay giai quyet", "ngay tra ket qua"},
}


def read_campaign_file(name: str, content: bytes) -> CampaignFile:
    rows = _xlsx_rows(content) if name.lower().endswith(".xlsx") else _csv_rows(content)
    if len(rows) > MAX_ROWS + 1:
        raise UnreadableFile(f"Tệp có quá nhiều dòng (tối đa {MAX_ROWS:,}).".replace(",", "."))
    order, first = _columns(rows[0] if rows else [])
    accepted: list[AcceptedRow] = []
    refused: list[RefusedRow] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows[first:], start=first + 1):
        cells = {column: (row[i] if i < len(row) else None) for column, i in order.items()}
        shown = tuple(_text(row[i]) if i < len(row) else "" for i in order.values())
        if not any(shown):
            continue
        entry, reason = _entry(cells)
        if entry is not None and entry.phone in seen:
            reason, entry = f"Trùng số điện thoại với dòng {seen[entry.phone]}", None
        if entry is None:
            refused.append(RefusedRow(index, shown, reason or "Không đọc được"))
            continue
        seen[entry.phone] = index
        accepted.append(AcceptedRow(index, entry))
    return CampaignFile(tuple(accepted), tuple(refused))


def _entry(cells: dict[str, object]) -> tuple[CampaignLine | None, str | None]:
    phone, procedure, agency = (_text(cells[c]) for c in ("phone", "procedure", "agency"))
    if not phone:
        return None, "Thiếu số điện thoại"
    try:
        number = normalise_mobile(_phone_text(cells["phone"]))
    except NotAMobileNumber:
        return None, "Số điện thoại không phải số di động hợp lệ"
    if not procedure:
        return None, "Thiếu thủ tục"
    if not agency:
        return None, "Thiếu cơ quan"
    if not _text(cells["date"]):
        return None, "Thiếu ngày"
    day = _date(cells["date"])
    if day is None:
        return None, "Ngày không hợp lệ (dd/mm/yyyy)"
    return CampaignLine(number, procedure[:500], agency[:500], day), None


def _columns(header: list[object]) -> tuple[dict[str, int], int]:
    """Column -> index, and the first data row (1 after a header row, else 0)."""
    names = [_folded(_text(cell)) for cell in header]
    found = {column: names.index(name) for column, known in HEADERS.items()
             for name in names if name in known}
    if len(found) == len(COLUMNS):
        return {column: found[column] for column in COLUMNS}, 1
    return {column: i for i, column in enumerate(COLUMNS)}, 0


def _folded(text: str) -> str:
    """Lower case, no accents, single spaces: "Số điện thoại" -> "so dien thoai"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(bare.lower().replace("_", " ").split())


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return f"{value:%d/%m/%Y}"
    return " ".join(str(value).split())


def _phone_text(value: object) -> str:
    """Excel keeps 0912345678 as the number 912345678: its 0 is put back."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value == int(value):
        digits = str(int(value))
        return "0" + digits if len(digits) == 9 else digits
    return _text(value)


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    for form in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d/%m/%y"):
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            continue
    return None


def _csv_rows(content: bytes) -> list[list[object]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile("Tệp CSV phải mã hóa UTF-8.") from None
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], ",;\t")
    except csv.Error:
        dialect = csv.excel
    return [list(row) for row in csv.reader(io.StringIO(text), dialect)]


def _xlsx_rows(content: bytes) -> list[list[object]]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:
        raise UnreadableFile("Không đọc được tệp xlsx.") from None
    try:
        sheet = book.worksheets[0]
        return [list(row) for _, row in zip(range(MAX_ROWS + 2),
                                            sheet.iter_rows(values_only=True), strict=False)]
    finally:
        book.close()

"""The report as Markdown (`report.md`): each table with a sentence saying its figures in
Vietnamese, the charts embedded, and how the figures are counted at the end."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from calllog.model import CaseStatus
from reports.charts import BRANCH_CHART, DAY_CHART
from reports.figures import NO_BRANCH, CallbackResults, Report, satisfied_scores
from reports.labels import Bucket
from reports.tables import (
    Table,
    cell_text,
    fmt_dec,
    fmt_duration,
    fmt_int,
    fmt_pct,
    report_period_line,
    report_title,
)


def render_markdown(report: Report, tables: Sequence[Table]) -> str:
    by_key = {t.key: t for t in tables}
    total, survey, callbacks = report.total, report.survey, report.callbacks
    low, high = satisfied_scores(survey.scale)
    parts = [
        f"# {report_title(report)}", f"**{report_period_line(report)}**",
        f"Số tổng đài: {report.setup.hotline_number}. Số liệu lấy từ nhật ký cuộc gọi; ngày "
        f"tính theo giờ Việt Nam, mỗi cuộc gọi tính vào ngày bắt đầu (cách tính: cuối báo cáo).",
        f"## {by_key['tong_quan'].title}",
        f"Trong kỳ báo cáo, Tổng đài đã tiếp nhận **{fmt_int(total.received)}** cuộc gọi "
        f"đến; trong đó **{fmt_int(total.chose_branch)}** cuộc gọi đã chọn nhánh, "
        f"**{fmt_int(total.connected)}** cuộc gọi được kết nối với cán bộ phụ trách (đạt "
        f"**{fmt_pct(total.answer_rate)}** số cuộc gọi đã chọn nhánh, "
        f"**{fmt_pct(total.answer_rate_of_all)}** tổng số cuộc gọi) và "
        f"**{fmt_int(total.of(Bucket.OUTSIDE_HOURS))}** cuộc gọi ngoài giờ làm việc hoặc "
        "ngày nghỉ.",
        _md_table(by_key["tong_quan"]),
        f"## {by_key['theo_nhanh'].title}", _md_table(by_key["theo_nhanh"]),
        f"![Số cuộc gọi theo nhánh]({BRANCH_CHART})",
        f"## {by_key['theo_co_quan'].title}", _md_table(by_key["theo_co_quan"]),
        f"## {by_key['ket_qua'].title}", _md_table(by_key["ket_qua"]),
        f"## {by_key['thoi_gian'].title}",
        f"Thời gian chờ trung vị **{fmt_duration(report.wait.median)}** (90% số cuộc gọi "
        f"chờ không quá {fmt_duration(report.wait.p90)}); thời gian đàm thoại trung vị "
        f"**{fmt_duration(report.talk.median)}**, tổng cộng {fmt_duration(report.talk.total)}.",
        _md_table(by_key["thoi_gian"]),
        f"## {by_key['goi_lai'].title}",
        f"**{fmt_int(callbacks.needed)}** cuộc gọi cần gọi lại cho người dân (ngoài giờ, "
        f"nhỡ, để lại lời nhắn): đã gọi lại **{fmt_int(callbacks.done)}**, còn "
        f"**{fmt_int(callbacks.pending)}** cuộc chưa gọi lại (tại thời điểm lập báo cáo)."
        + _callback_results(callbacks.results),
        _md_table(by_key["goi_lai"]),
        "## 7. Phản ánh, kiến nghị",
    ]
    if report.cases is None:
        parts.append("_Nhật ký cuộc gọi chưa lưu phản ánh, kiến nghị: mục này chưa có số liệu._")
    else:
        by_status = report.cases.by_status
        parts += [
            f"Tổng đài đã tiếp nhận **{fmt_int(report.cases.total)}** phản ánh, kiến nghị; "
            f"trong đó **{fmt_int(by_status[CaseStatus.RESOLVED])}** đã giải quyết, "
            f"**{fmt_int(by_status[CaseStatus.FORWARDED] + by_status[CaseStatus.VERIFYING])}**"
            f" đang xử lý, **{fmt_int(by_status[CaseStatus.REJECTED])}** không thụ lý (tình "
            "trạng tại thời điểm lập báo cáo).",
            _md_table(by_key["phan_anh"]),
        ]
    parts += [
        f"## {by_key['hai_long'].title}",
        f"Có **{fmt_int(survey.scored)}** lượt người dân chấm điểm sau cuộc gọi (thang điểm "
        f"1–{survey.scale}); **{fmt_int(survey.satisfied)}** lượt hài lòng ({low}–{high} "
        f"điểm), đạt **{fmt_pct(survey.satisfied_rate)}**; điểm trung bình "
        f"**{fmt_dec(survey.mean, 2)}**.",
        _md_table(by_key["hai_long"]), _md_table(by_key["khao_sat"]),
        f"## {by_key['theo_ngay'].title}", f"![Số cuộc gọi theo ngày]({DAY_CHART})",
        _md_table(by_key["theo_ngay"]),
        *_channel_parts(report, by_key),
        *_queue_parts(report, by_key),
        "## Cách tính", _NOTES,
    ]
    return "\n\n".join(parts) + "\n"


def _queue_parts(report: Report, by_key: Mapping[str, Table]) -> list[str]:
    queue = report.queue
    if queue is None or "hang_cho" not in by_key:
        return []
    levels = ", ".join(f"{level.seconds} giây **{fmt_pct(level.rate)}**"
                       for level in queue.service_levels)
    return [
        f"## {by_key['hang_cho'].title}",
        f"Mức phục vụ (tỷ lệ cuộc gọi được trả lời trong vòng T giây kể từ khi vào hàng "
        f"chờ): {levels}. **{fmt_int(queue.queued)}** cuộc gọi phải vào hàng chờ, chờ trung "
        f"vị **{fmt_duration(queue.wait.median)}** (90% không quá "
        f"{fmt_duration(queue.wait.p90)}); **{fmt_int(queue.abandoned)}** người gọi gác máy "
        "khi đang chờ.",
        _md_table(by_key["hang_cho"]),
        f"## {by_key['theo_may_le'].title}",
        _md_table(by_key["theo_may_le"]) if report.desks
        else "_Không có máy lẻ nào trả lời cuộc gọi hay tạm nghỉ trong kỳ._",
    ]


def _channel_parts(report: Report, by_key: Mapping[str, Table]) -> list[str]:
    if report.channels is None:
        return []
    rows = {c.channel: c for c in report.channels.channels}
    phone, zalo = rows["phone"], rows["zalo"]
    parts = [
        f"## {by_key['theo_kenh'].title}",
        f"Qua điện thoại: **{fmt_int(phone.received)}** cuộc gọi, "
        f"**{fmt_int(phone.cases_opened)}** phản ánh; qua Zalo: **{fmt_int(zalo.received)}** "
        f"tin nhắn, **{fmt_int(zalo.cases_opened)}** phản ánh. Hài lòng: điện thoại "
        f"**{fmt_pct(phone.ratings.satisfied_rate)}**, Zalo "
        f"**{fmt_pct(zalo.ratings.satisfied_rate)}**.",
        _md_table(by_key["theo_kenh"]), _CHANNEL_NOTE,
    ]
    campaigns = [k for k in ("khao_sat_co_quan", "khao_sat_thu_tuc") if k in by_key]
    for key in campaigns:
        parts += [f"## {by_key[key].title}", _md_table(by_key[key])]
    if not campaigns:
        parts.append("_Chưa có đánh giá khảo sát qua Zalo trong kỳ._")
    return parts


_CHANNEL_NOTE = (
    "_Tiếp nhận qua điện thoại là số cuộc gọi đến; qua Zalo là số tin nhắn người dân gửi "
    "đến tài khoản Zalo (mỗi tin mở phản ánh mới hoặc gộp vào phản ánh đang mở của người "
    "gửi). Giải quyết đúng hạn: phản ánh mở trong kỳ đã giải quyết không muộn hơn hạn xử "
    "lý. Hài lòng qua điện thoại: chấm điểm bằng phím sau cuộc gọi; qua Zalo: mẫu đánh giá "
    "1–5 sao (ZNS) về cuộc gọi hoặc phản ánh. Khảo sát qua Zalo: đánh giá của người đã làm "
    "thủ tục, theo cơ quan và theo thủ tục._")


_NOTES = "\n".join((
    "- Ngày tính theo giờ Việt Nam (Asia/Ho_Chi_Minh); kỳ báo cáo gồm cả ngày đầu và ngày "
    "cuối. Cuộc gọi tính vào ngày bắt đầu (cuộc gọi kéo dài qua nửa đêm tính vào ngày trước).",
    "- Kết nối: người gọi đã nói chuyện với cán bộ. Gác máy ở menu: gác máy hoặc không bấm "
    "phím trước khi chọn nhánh. Nhỡ, không có cán bộ: đã chọn nhánh nhưng cán bộ bận, không "
    "nghe máy, hoặc người gọi gác máy khi đang chờ; hoặc tổng đài quá tải đã từ chối cuộc "
    "gọi (cần gọi lại). Ngoài giờ: gọi ngoài giờ làm việc, ngày "
    "nghỉ, ngày lễ. Khác: lỗi hệ thống, cuộc gọi chưa kết thúc.",
    "- Tỷ lệ kết nối = số cuộc kết nối / số cuộc gọi đã chọn nhánh (phần tổng quan có thêm "
    "tỷ lệ trên tổng số cuộc gọi).",
    "- Thời gian chờ: từ lúc cuộc gọi vào tổng đài (gồm lời chào, chọn nhánh) đến lúc gặp cán "
    "bộ. Thời gian đàm thoại: từ lúc gặp cán bộ đến khi một bên gác máy (không gồm phần khảo "
    "sát sau cuộc gọi). Tính bằng giây, làm tròn xuống; trung vị và phân vị 90 theo "
    "hạng gần nhất (giá trị thứ ⌈p·n⌉ của dãy n giá trị đã sắp xếp).",
    "- Hài lòng: điểm từ 4/5 thang điểm trở lên (4–5 điểm trên thang 1–5).",
    "- Kết quả gọi lại (của các cuộc gọi trong kỳ): liên lạc được, sai số theo lần gọi lại "
    "đã khép việc gọi lại; số lần gọi lại gồm cả lần không liên lạc được; thời gian đến khi "
    "gọi lại tính từ lúc cuộc gọi bắt đầu đến lần gọi lại đã khép việc, trung vị theo hạng "
    "gần nhất.",
    "- Hàng chờ: cuộc gọi đến cán bộ hoặc hàng chờ là các cuộc đã kết nối, nhỡ hoặc không "
    "có cán bộ (đã đến bước đổ chuông cán bộ hoặc vào hàng chờ). Mức phục vụ T giây = số "
    "cuộc được trả lời trong vòng T giây kể từ khi vào hàng chờ / số cuộc gọi đến cán bộ "
    "hoặc hàng chờ; cuộc được trả lời không phải vào hàng chờ tính là đạt. Thời gian chờ "
    "trong hàng chờ: từ lúc vào đến lúc rời hàng chờ (được trả lời, gác máy, hoặc quá thời "
    "gian chờ tối đa), tính bằng giây, làm tròn xuống. Gác máy khi đang chờ: người gọi gác "
    "máy lúc đang ở hàng chờ.",
    "- Theo máy lẻ: cuộc gọi đã trả lời và thời gian đàm thoại của các cuộc máy lẻ đó đã "
    "nghe; thời gian tạm nghỉ: thời gian máy lẻ đăng nhập nhưng tạm nghỉ (mã *46 hoặc bảng "
    "điều khiển) trong kỳ.",
    f"- Cuộc gọi chưa chọn nhánh được tính vào dòng \"{NO_BRANCH}\". Gọi lại, phản ánh, "
    "kiến nghị: tình trạng tại thời điểm lập báo cáo. Danh sách từng cuộc gọi và nhóm được "
    "tính: `hotline report ... --details` (details.csv).",
))


def _md_table(table: Table) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    aligns = ["---"] + ["--:" if any(not isinstance(r[i], str) for r in table.rows) else "---"
                        for i in range(1, len(table.columns))]
    rows = [line([cell_text(c) for c in row]) for row in table.rows]
    return "\n".join([line(table.columns), line(aligns), *rows])


def _callback_results(results: CallbackResults | None) -> str:
    if results is None:
        return ""
    return (f" Trong các cuộc đã gọi lại, **{fmt_int(results.reached)}** cuộc liên lạc được "
            f"với người dân, **{fmt_int(results.wrong_number)}** cuộc sai số điện thoại; "
            f"tổng cộng {fmt_int(results.attempts)} lần gọi lại; thời gian từ cuộc gọi đến "
            f"khi gọi lại trung vị **{fmt_duration(results.median_seconds)}**.")

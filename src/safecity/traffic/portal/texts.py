"""What the citizen portal says, in English and Urdu: every page and every refusal, in plain words."""

# ruff: noqa: RUF001 - Urdu sentences end with the Urdu full stop (U+06D4), as they should

from __future__ import annotations

LANGUAGES = ("en", "ur")

EN: dict[str, str] = {
    "title": "E-challan citizen portal",
    "switch": "اردو",
    "lookup_title": "Find your challans",
    "lookup_intro": (
        "Find the e-challans of a vehicle by its number plate and the last four digits of the owner's CNIC. "
        "No account is needed."
    ),
    "plate": "Number plate",
    "plate_hint": "As on the plate, for example LEB-1234",
    "digits": "Last 4 digits of the owner's CNIC",
    "search": "Find challans",
    "none_found": "No challan was found for this number plate and these CNIC digits.",
    "your_challans": "Challans of {plate}",
    "number": "Challan number",
    "offence": "Offence",
    "when": "Date and time",
    "place": "Place",
    "amount": "Amount",
    "rupees": "Rs {amount}",
    "due": "Due date",
    "status": "Status",
    "issued_on": "Issued on",
    "details": "Details, evidence and appeal",
    "how_to_pay": "How to pay",
    "payment_ref": "Payment reference",
    "pay_hint": (
        "Pay at any bank branch, mobile banking app or payment agent by quoting the payment reference "
        "{ref}. The challan shows as paid once the bank reports it."
    ),
    "evidence": "Evidence",
    "evidence_hint": "Other people's faces and other vehicles' number plates are blurred.",
    "evidence_none": "No pictures are available for this challan.",
    "evidence_public_before": "Before the offence",
    "evidence_public_at": "At the offence",
    "evidence_public_after": "After the offence",
    "appeal": "Appeal",
    "appeal_intro": (
        "If you believe this challan is wrong, you may appeal until {date}. An adjudicating officer decides "
        "within {days} days and the decision is sent to you."
    ),
    "statement": "Your statement (up to 4000 characters)",
    "phone": "Mobile number",
    "email": "E-mail address",
    "contact_hint": "Give a mobile number or an e-mail address: the decision is sent there.",
    "language": "Language of the decision",
    "lang_en": "English",
    "lang_ur": "اردو (Urdu)",
    "attachment": "Attachment (optional): a JPEG or PNG picture or a PDF, at most {mb} MB",
    "submit_appeal": "Submit the appeal",
    "appeal_filed_title": "Appeal received",
    "appeal_filed": (
        "Your appeal against challan {number} has been received. Its reference is {ref}. The challan is "
        "now under appeal and the decision will be sent to you by {deadline}."
    ),
    "appeal_pending": "Appeal filed on {date}: awaiting the decision (due by {deadline}).",
    "appeal_decided": "Appeal decided on {date}: {outcome}.",
    "appeal_reasons": "Reasons",
    "outcome_cancelled": "the challan is cancelled",
    "outcome_upheld": "the challan stands",
    "appeal_closed": "This challan can no longer be appealed.",
    "back_to_results": "Back to the challans of this vehicle",
    "back": "Look up challans",
    "verify_title": "Verify a challan",
    "genuine": "This challan is genuine.",
    "not_genuine": (
        "This challan could not be verified: it is not genuine, or the address was mistyped. Do not pay "
        "it; report it to the traffic police."
    ),
    "status_issued": "Unpaid",
    "status_paid": "Paid",
    "status_overdue": "Overdue",
    "status_in_appeal": "Under appeal",
    "status_cancelled": "Cancelled",
    "offence_red_light": "Crossing a red light",
    "offence_over_speed": "Over-speeding",
    "offence_wrong_way": "Driving the wrong way",
    "offence_no_parking": "Parking or stopping where it is not allowed",
    "offence_no_helmet": "Riding without a helmet",
    # refusals, by error code
    "error_title": "Sorry",
    "too_many_lookups": "Too many look-ups from your connection. Please try again in {seconds} seconds.",
    "bad_plate": "Enter the number plate in English letters and digits, for example LEB-1234.",
    "bad_digits": "Enter exactly four digits: the last four of the owner's CNIC.",
    "link_expired": "This page has expired. Please look up your challans again.",
    "bad_link": "This address is not valid. Please look up your challans again.",
    "not_found": "No such challan was found.",
    "not_appealable": "This challan cannot be appealed in its present state.",
    "appeal_window_closed": "The time to appeal this challan has passed.",
    "already_appealed": "This challan has been appealed already.",
    "bad_statement": "Write your statement in 10 to 4000 characters.",
    "bad_language": "Choose English or Urdu for the decision.",
    "no_contact": "Give a mobile number or an e-mail address for the decision.",
    "bad_phone": "Give a Pakistani mobile number, for example 0300 1234567.",
    "bad_email": "Give an e-mail address, for example name@example.com.",
    "bad_form": "The form could not be read. Please fill it in again.",
    "attachment_empty": "The attached file is empty.",
    "attachment_too_large": "The attached file is too large: at most {mb} MB.",
    "attachment_not_allowed": "Only a JPEG or PNG picture or a PDF can be attached.",
    "attachment_unreadable": "The attached file cannot be opened: it may be damaged.",
    "attachment_too_many_pixels": "The attached picture is too large to open. Please send a smaller picture.",
    "attachment_hidden_content": "The attached file contains something other than a picture or a document.",
    "attachment_active_pdf": "PDFs with scripts or embedded files cannot be accepted.",
    "generic": "Something went wrong. Please try again.",
    "nothing_changed": "Nothing was saved.",
}

UR: dict[str, str] = {
    "title": "ای چالان شہری پورٹل",
    "switch": "English",
    "lookup_title": "اپنے چالان تلاش کریں",
    "lookup_intro": (
        "گاڑی کی نمبر پلیٹ اور مالک کے شناختی کارڈ (CNIC) کے آخری چار ہندسوں سے اس کے ای چالان تلاش کریں۔ "
        "کسی اکاؤنٹ کی ضرورت نہیں۔"
    ),
    "plate": "نمبر پلیٹ",
    "plate_hint": "جیسے پلیٹ پر لکھا ہے، مثلاً LEB-1234",
    "digits": "مالک کے شناختی کارڈ کے آخری 4 ہندسے",
    "search": "چالان تلاش کریں",
    "none_found": "اس نمبر پلیٹ اور شناختی کارڈ کے ان ہندسوں کے لیے کوئی چالان نہیں ملا۔",
    "your_challans": "{plate} کے چالان",
    "number": "چالان نمبر",
    "offence": "خلاف ورزی",
    "when": "تاریخ اور وقت",
    "place": "جگہ",
    "amount": "رقم",
    "rupees": "{amount} روپے",
    "due": "ادائیگی کی آخری تاریخ",
    "status": "حیثیت",
    "issued_on": "جاری ہونے کی تاریخ",
    "details": "تفصیل، ثبوت اور اپیل",
    "how_to_pay": "ادائیگی کا طریقہ",
    "payment_ref": "ادائیگی حوالہ",
    "pay_hint": (
        "کسی بھی بینک برانچ، موبائل بینکنگ ایپ یا ادائیگی ایجنٹ پر ادائیگی حوالہ {ref} بتا کر ادائیگی کریں۔ "
        "بینک کی اطلاع ملتے ہی چالان ادا شدہ دکھائی دے گا۔"
    ),
    "evidence": "ثبوت",
    "evidence_hint": "دوسرے لوگوں کے چہرے اور دوسری گاڑیوں کی نمبر پلیٹیں دھندلی کر دی گئی ہیں۔",
    "evidence_none": "اس چالان کی کوئی تصویر دستیاب نہیں۔",
    "evidence_public_before": "خلاف ورزی سے پہلے",
    "evidence_public_at": "خلاف ورزی کے وقت",
    "evidence_public_after": "خلاف ورزی کے بعد",
    "appeal": "اپیل",
    "appeal_intro": (
        "اگر آپ سمجھتے ہیں کہ یہ چالان غلط ہے تو آپ {date} تک اپیل کر سکتے ہیں۔ "
        "فیصلہ کرنے والا افسر {days} دن کے اندر فیصلہ کرتا ہے اور فیصلہ آپ کو بھیج دیا جاتا ہے۔"
    ),
    "statement": "آپ کا بیان (4000 حروف تک)",
    "phone": "موبائل نمبر",
    "email": "ای میل پتہ",
    "contact_hint": "موبائل نمبر یا ای میل پتہ دیں: فیصلہ وہاں بھیجا جائے گا۔",
    "language": "فیصلے کی زبان",
    "lang_en": "English (انگریزی)",
    "lang_ur": "اردو",
    "attachment": "منسلکہ (اختیاری): JPEG یا PNG تصویر یا PDF، زیادہ سے زیادہ {mb} MB",
    "submit_appeal": "اپیل جمع کرائیں",
    "appeal_filed_title": "اپیل موصول ہو گئی",
    "appeal_filed": (
        "چالان {number} کے خلاف آپ کی اپیل موصول ہو گئی ہے۔ اس کا حوالہ {ref} ہے۔ چالان اب زیر اپیل ہے اور "
        "فیصلہ آپ کو {deadline} تک بھیج دیا جائے گا۔"
    ),
    "appeal_pending": "اپیل {date} کو دائر ہوئی: فیصلے کا انتظار ہے ({deadline} تک)۔",
    "appeal_decided": "اپیل کا فیصلہ {date} کو ہوا: {outcome}۔",
    "appeal_reasons": "وجوہات",
    "outcome_cancelled": "چالان منسوخ کر دیا گیا",
    "outcome_upheld": "چالان برقرار ہے",
    "appeal_closed": "اس چالان کے خلاف اب اپیل نہیں ہو سکتی۔",
    "back_to_results": "اس گاڑی کے چالانوں پر واپس جائیں",
    "back": "چالان تلاش کریں",
    "verify_title": "چالان کی تصدیق",
    "genuine": "یہ چالان اصلی ہے۔",
    "not_genuine": (
        "اس چالان کی تصدیق نہیں ہو سکی: یہ اصلی نہیں ہے، یا پتہ غلط لکھا گیا ہے۔ اسے ادا نہ کریں اور ٹریفک "
        "پولیس کو اطلاع دیں۔"
    ),
    "status_issued": "غیر ادا شدہ",
    "status_paid": "ادا شدہ",
    "status_overdue": "تاخیر شدہ",
    "status_in_appeal": "زیر اپیل",
    "status_cancelled": "منسوخ",
    "offence_red_light": "سرخ بتی عبور کرنا",
    "offence_over_speed": "تیز رفتاری",
    "offence_wrong_way": "غلط سمت میں گاڑی چلانا",
    "offence_no_parking": "ممنوعہ جگہ پر پارکنگ یا رکنا",
    "offence_no_helmet": "ہیلمٹ کے بغیر موٹر سائیکل چلانا",
    "error_title": "معذرت",
    "too_many_lookups": (
        "آپ کے کنکشن سے بہت زیادہ تلاشیں ہوئیں۔ براہ کرم {seconds} سیکنڈ بعد دوبارہ کوشش کریں۔"
    ),
    "bad_plate": "نمبر پلیٹ انگریزی حروف اور ہندسوں میں لکھیں، مثلاً LEB-1234۔",
    "bad_digits": "ٹھیک چار ہندسے لکھیں: مالک کے شناختی کارڈ کے آخری چار۔",
    "link_expired": "اس صفحے کی مدت ختم ہو گئی ہے۔ براہ کرم اپنے چالان دوبارہ تلاش کریں۔",
    "bad_link": "یہ پتہ درست نہیں۔ براہ کرم اپنے چالان دوبارہ تلاش کریں۔",
    "not_found": "ایسا کوئی چالان نہیں ملا۔",
    "not_appealable": "اس چالان کے خلاف موجودہ حالت میں اپیل نہیں ہو سکتی۔",
    "appeal_window_closed": "اس چالان کے خلاف اپیل کا وقت گزر چکا ہے۔",
    "already_appealed": "اس چالان کے خلاف اپیل پہلے ہی ہو چکی ہے۔",
    "bad_statement": "اپنا بیان 10 سے 4000 حروف میں لکھیں۔",
    "bad_language": "فیصلے کے لیے انگریزی یا اردو منتخب کریں۔",
    "no_contact": "فیصلے کے لیے موبائل نمبر یا ای میل پتہ دیں۔",
    "bad_phone": "پاکستانی موبائل نمبر دیں، مثلاً 0300 1234567۔",
    "bad_email": "ای میل پتہ دیں، مثلاً name@example.com۔",
    "bad_form": "فارم پڑھا نہیں جا سکا۔ براہ کرم اسے دوبارہ بھریں۔",
    "attachment_empty": "منسلکہ فائل خالی ہے۔",
    "attachment_too_large": "منسلکہ فائل بہت بڑی ہے: زیادہ سے زیادہ {mb} MB۔",
    "attachment_not_allowed": "صرف JPEG یا PNG تصویر یا PDF منسلک کی جا سکتی ہے۔",
    "attachment_unreadable": "منسلکہ فائل کھل نہیں سکی: شاید خراب ہے۔",
    "attachment_too_many_pixels": "منسلکہ تصویر کھولنے کے لیے بہت بڑی ہے۔ براہ کرم چھوٹی تصویر بھیجیں۔",
    "attachment_hidden_content": "منسلکہ فائل میں تصویر یا دستاویز کے علاوہ کچھ اور ہے۔",
    "attachment_active_pdf": "اسکرپٹ یا اندرونی فائلوں والی PDF قبول نہیں کی جا سکتی۔",
    "generic": "کچھ غلط ہو گیا۔ براہ کرم دوبارہ کوشش کریں۔",
    "nothing_changed": "کچھ محفوظ نہیں کیا گیا۔",
}

TEXTS = {"en": EN, "ur": UR}


def language(value: str | None) -> str:
    """A supported language code (English unless Urdu is asked for)."""
    return value if value in LANGUAGES else "en"


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return ""


def text(lang: str, key: str, **fields: object) -> str:
    """The sentence `key` in `lang` with `fields` filled in (English when Urdu lacks it)."""
    template = TEXTS[language(lang)].get(key) or EN.get(key) or EN["generic"]
    return template.format_map(_Blank(fields))

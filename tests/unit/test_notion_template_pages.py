"""A call.analyzed event with a call template writes the template and its fields onto the
call's Notion page; one without writes neither. An urgent claim's message is marked Urgent."""

from __future__ import annotations

from engine.notion_pages import page_writes

URL = "https://voice.example.com/console/#/calls/{call_sid}"


def test_the_template_and_its_fields_go_on_the_call_page() -> None:
    data = {
        "call_sid": "CA1",
        "summary": "A claim.",
        "template": {
            "key": "claim_intake",
            "name": "Claim intake (first notice of loss)",
            "fields": {"date_of_loss": "yesterday", "injuries": False, "vehicle": None},
        },
    }
    (page,) = page_writes("call.analyzed", data, URL)
    props = page.properties
    assert props["Template"] == {"select": {"name": "Claim intake (first notice of loss)"}}
    text = props["Intake"]["rich_text"][0]["text"]["content"]
    assert text == "Date of loss: yesterday\nInjuries: no"


def test_a_call_no_template_fit_has_no_template_properties() -> None:
    (page,) = page_writes("call.analyzed", {"call_sid": "CA1", "template": None}, URL)
    assert "Template" not in page.properties
    assert "Intake" not in page.properties


def _message(urgent: str | None) -> dict[str, object]:
    return {"message_id": "m1", "call_sid": "CA1", "caller_number": "+15550100", "urgent": urgent}


def test_an_urgent_claims_message_is_marked_urgent_in_notion() -> None:
    _, message, task = page_writes("message.taken", _message("someone was injured"), URL)
    assert message.properties["Urgent"] == {"checkbox": True}
    assert message.properties["Urgent claim"]["rich_text"][0]["text"]["content"] == (
        "someone was injured"
    )
    assert task.properties["Name"]["title"][0]["text"]["content"].startswith("URGENT: Call back")
    _, plain, plain_task = page_writes("message.taken", _message(None), URL)
    assert plain.properties["Urgent"] == {"checkbox": False}
    assert "Urgent claim" not in plain.properties
    assert plain_task.properties["Name"]["title"][0]["text"]["content"].startswith("Call back")


def test_each_template_field_is_a_typed_property_its_database_is_given() -> None:
    fields = {
        "policy_number": "PA-[redacted]",
        "injuries": False,
        "amount": 182.5,
        "vehicle": None,
        "summary": "not the call's own Summary",
    }
    data = {"call_sid": "CA1", "summary": "A claim.", "template": {"name": "T", "fields": fields}}
    (page,) = page_writes("call.analyzed", data, URL)
    props = page.properties
    assert props["Policy number"]["rich_text"][0]["text"]["content"] == "PA-[redacted]"
    assert props["Injuries"] == {"checkbox": False}
    assert props["Amount"] == {"number": 182.5}
    assert "Vehicle" not in props  # not said: nothing written
    assert props["Summary"]["rich_text"][0]["text"]["content"] == "A claim."
    assert page.columns == {
        "Policy number": {"rich_text": {}},
        "Injuries": {"checkbox": {}},
        "Amount": {"number": {}},
    }
    assert (
        "Summary: not the call's own Summary" in props["Intake"]["rich_text"][0]["text"]["content"]
    )
    (plain,) = page_writes("call.analyzed", {"call_sid": "CA1", "template": None}, URL)
    assert plain.columns is None

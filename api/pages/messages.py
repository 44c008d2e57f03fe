"""Texts that page code (not a template) shows: the plain reason for each refusal, by the error's stable code,
and the notices shown after a form succeeds. Marked with N_ so that tests/pages/test_i18n.py finds them."""

from __future__ import annotations

from api.i18n import N_

# Each refusal says what happened and what to do next; where the reader cannot fix it, whom to ask (a villager:
# the village official; staff and partners: the county admin). No codes, file formats or sizes (docs/glossary.md).
# tests/pages/test_words.py fails on a domain error code with no text here.
LEDGER_CHECKS = (  # the points record's own checks, which no page should ever meet
    "unbalanced_transaction",
    "invalid_amount",
    "cross_village_transaction",
    "account_not_found",
    "transaction_not_found",
    "not_pending",
    "pending_already_resolved",
    "pending_expired",
    "not_reversible",
    "already_reversed",
    "transaction_belongs_to_record",
    "head_signature_invalid",
    "claim_journal_mismatch",
)
# Backing up and restoring, which only the server's command line does (ledger/core/backup.py): no page meets them
SERVER_COMMANDS = (
    "not_a_backup",
    "backup_of_another_engine",
    "backup_from_newer_schema",
    "database_has_no_schema",
    "restore_target_holds_data",
    "restore_target_in_use",
    "postgres_tools_missing",
    "postgres_tool_failed",
    "backup_counts_disagree",
    "database_unreadable",
)

ERRORS: dict[str, str] = {
    # signing in, pages and forms
    "sign_in_needed": N_("Please sign in first."),
    "unauthenticated": N_("Please sign in first."),
    "csrf_failed": N_("This page has expired. Open it again and send it once more."),
    "invalid_code": N_("The code is wrong or has expired. Ask for a new code and enter it."),
    "invalid_grant": N_(
        "Wrong username or password. Check them and try again; if you forgot the password, ask the county admin."
    ),
    "invalid_client": N_("This partner system was not recognised. Ask the county admin to check its settings."),
    "unsupported_grant_type": N_("This way of signing in is not offered. Sign in with a password or a code."),
    "too_many_requests": N_("Too many tries. Wait a few minutes, then try again."),
    "code_requests_phone_limited": N_("Too many codes were asked for this phone. Ask again in %(wait)s."),
    "code_requests_address_limited": N_("Too many codes were asked for from this network. Ask again in %(wait)s."),
    "sms_phone_capped": N_("Too many text messages were sent to this phone today. Ask again in %(wait)s."),
    "sms_county_capped": N_(
        "The county has sent as many text messages as it may today. Ask again in %(wait)s, or ask the village official."
    ),
    "unavailable": N_("A service we depend on is not answering just now. Try again in a few minutes."),
    "sms_unavailable": N_(
        "The text message with the code could not be sent just now. Try again in a few minutes; if it happens again, "
        "ask the village official."
    ),
    "sign_in_slowed": N_("Too many wrong tries. Wait %(wait)s, then try again."),
    "account_locked": N_(
        "This account is locked for a while after many wrong tries. Try again in %(wait)s. Its holder has been told."
    ),
    "invalid_request": N_("Something you entered is not right. Check it and send it again."),
    "invalid": N_("Something you entered is not right. Check it and send it again."),
    "too_large": N_("What you sent is too large. Send something smaller."),
    "body_too_large": N_("What you sent is too large. A photo: take it again, or pick a smaller one."),
    "unsupported_type": N_("This kind of file cannot be used. Send a photo."),
    "forbidden": N_("This is not open to your account. Go back to your home page."),
    "not_found": N_("There is nothing here, or it is not yours to see. Go back and start again from the menu."),
    "page_not_found": N_(
        "There is no such page. The link may be wrong or out of date. Go back, or start again from your home page."
    ),
    "internal_error": N_(
        "Something went wrong on our side and nothing was changed. Try again in a few minutes; if it happens "
        "again, tell the county admin."
    ),
    "busy": N_("The service is busy just now and nothing was changed. Wait a moment, then try again."),
    "conflict": N_("Someone changed this at the same moment. Open the page again and check before you send."),
    "domain_error": N_("This could not be done. Go back and try again; if it happens again, tell the county admin."),
    # the roster import page
    "roster_file_gone": N_(
        "The file checked before is no longer kept (it was imported, or waited too long). Upload it again."
    ),
    "roster_file_missing": N_("Pick the roster file to upload, then check it."),
    # claiming
    "code_invalid": N_(
        "This QR code is not one of ours, or its activity was withdrawn. Ask the village official which code to scan."
    ),
    "code_expired": N_("This QR code has expired. Scan the code on the screen again."),
    "scan_ticket_invalid": N_("This scan was made on another phone. Scan the code on the screen again with this one."),
    "scan_ticket_used": N_("This scan was already used for a claim. Scan the code on the screen again."),
    "activity_over": N_(
        "This activity is over, so its QR code no longer earns points. If you took part, ask the village official."
    ),
    "not_yet_open": N_("This activity has not started yet. Scan the code again once it has started."),
    "capacity_full": N_(
        "All places of this activity are taken, so no more claims are taken. If you took part, ask the village "
        "official."
    ),
    "claim_expired": N_(
        "This claim waited too long for a decision and has expired. If you have questions, ask the village official."
    ),
    "already_claimed": N_(
        "Your household has already claimed for this activity. See how it stands under My household."
    ),
    "idempotency_key_reused": N_("This was already sent once, so it was not sent again. Go back to see it."),
    "outside_village": N_(
        "This activity is for another village, so your household cannot claim for it. Ask your village official "
        "about your village's activities."
    ),
    "not_a_claimant": N_("Only a villager claims points with a QR code, for their own household."),
    "evidence_required": N_("This matter needs a photo. Take one and send again."),
    "evidence_too_large": N_("The photo is too large. Take it again, or pick another photo."),
    "evidence_too_many_pixels": N_("The photo is too large. Take it again, or pick another photo."),
    "evidence_type": N_("This photo cannot be read. Take it again with the camera, or pick another photo."),
    "evidence_not_found": N_("This photo cannot be found. Take it again and send it once more."),
    "evidence_not_yours": N_("A photo of this claim belongs to someone else. Take your own photo and send again."),
    "too_many_photos": N_("Too many photos for one claim. Pick fewer photos and send again."),
    "cap_reached": N_(
        "Your household has reached the limit of points for this matter for now, so this claim earns no more."
    ),
    "activity_withdrawn": N_(
        "This activity was withdrawn, so it no longer earns points. If you have questions, ask the village official."
    ),
    "activity_not_found": N_(
        "This activity cannot be found: it may have been withdrawn, or the link is incomplete. Scan the code again, "
        "or ask the village official."
    ),
    "invalid_activity": N_("The activity must end after it starts, and within a year. Change the times and save."),
    "not_rotating": N_("This activity has a printed code, not a rotating one. Print its QR poster instead."),
    "village_not_found": N_("This village is not one of yours. Pick a village from the list."),
    "village_required": N_("Say which of your villages this is for, then send again."),
    # the catalogue
    "matter_inactive": N_("This matter is no longer in use, so it earns no points. Pick another matter."),
    "matter_not_found": N_("This matter is not in the village's catalogue. Pick a matter from the list."),
    "matter_exists": N_("This matter exists already. Edit it instead of adding it again."),
    "invalid_matter": N_("Some of this matter is not right: check its points, names and proof, then save."),
    "village_item_limit": N_(
        "The village's own matters have reached what the county allows. Ask the county admin to change the limit."
    ),
    "not_a_reward": N_("This matter takes points away: record it as a deduction instead."),
    "not_a_deduction": N_("This matter earns points: pick a deduction matter, or enter an award instead."),
    # reviewing
    "claim_already_decided": N_("Someone else has already decided this claim. Open the review queue again."),
    "claim_not_found": N_("This claim is not among those you handle. Open the review queue again."),
    "reason_required": N_("Write the reason, then send again."),
    "own_entry": N_("You cannot decide on what you entered yourself. Another official of the village decides it."),
    "conflict_of_interest": N_(
        "You cannot act for your own household: another official of the village, the township supervisor or the "
        "county admin does it."
    ),
    "second_official_needed": N_("You entered this for the household, so another official of the village decides it."),
    "household_not_found": N_(
        "This household is not in your villages. Check the household number, or scan the household card."
    ),
    "not_in_notice": N_(
        "This entry is no longer on the notice board, so an objection is no longer taken. If you have questions, "
        "ask the village official."
    ),
    # disputes
    "appeal_window_closed": N_(
        "The time to appeal is over, so it can no longer be appealed. If you have questions, ask the village official."
    ),
    "already_disputed": N_("This is already being appealed or checked. Wait for the answer."),
    "not_appealable": N_("This cannot be appealed. If you have questions, ask the village official."),
    "dispute_already_resolved": N_("This has already been answered. Open the list again to see the answer."),
    "dispute_not_found": N_("This objection or appeal is not among those you handle. Open the list again."),
    "deduction_not_found": N_("This deduction is not among those you handle. Open the list again."),
    # people and accounts (county admin)
    "staff_not_found": N_("There is no such staff account in your county. Check the account and try again."),
    "person_not_found": N_("There is no such person in the roster. Check the household and try again."),
    "person_of_another_county": N_("This person lives in another county. Pick a person of your county."),
    "person_already_linked": N_("This person has a staff account already. Use that account."),
    "username_taken": N_("This username is taken. Choose another one."),
    "weak_password": N_("The password is too short or too easy to guess. Use at least 12 characters."),
    "same_password": N_("The new password is the same as the current one. Choose a different one."),
    "current_password_wrong": N_("The current password is not right. Check it and try again."),
    "password_changed_meanwhile": N_("Your password was just changed by someone else. Sign in again."),
    "password_change_required": N_("Set a password of your own first; then you can go on."),
    "staff_places_invalid": N_(
        "A village official works in one or more villages, a township supervisor in one township; auditors and "
        "county admins in no single place. Check the places and try again."
    ),
    "own_account": N_("You cannot disable, reset or change the role of your own account. Ask another county admin."),
    "last_admin": N_("This is the last county admin account in use. Add another county admin first."),
    "not_a_staff_account": N_("Only the account of an official, a county admin or an auditor is linked to a person."),
    "township_not_found": N_("There is no such township in your county. Pick one from the list."),
    # places and households (county admin)
    "township_name_taken": N_("Your county has a township of this name already. Use another name."),
    "village_name_taken": N_("This township has a village of this name already. Use another name."),
    "place_code_taken": N_("This code is in use already. Give another, or leave it empty."),
    "centre_invalid": N_(
        "Give both the latitude and the longitude of the village centre, within their range, or leave both empty."
    ),
    "household_code_taken": N_("There is a household with this household number already. Check the number."),
    "phone_malformed": N_("This is not a mobile number. Enter the 11 digits of a mainland mobile number."),
    "phone_taken": N_(
        "Another member has this phone number already. Check the number, or change the other member's number first."
    ),
    "head_cannot_move": N_("The head of household cannot move away. Make another member the head first."),
    "person_already_erased": N_("This person's data has been erased already. Nothing more is to be done."),
    "person_is_staff": N_(
        "This person has a staff account in use. Disable the staff account first, then erase the person's data."
    ),
    "evidence_deleted": N_("This photo has been deleted: its keeping period ended, or its sender's data was erased."),
    "household_closed": N_(
        "This household has been closed: nothing more is claimed, awarded, deducted, redeemed or added for it."
    ),
    # the roster import (county admin)
    "file_unreadable": N_(
        "This file cannot be read as a roster. Save it again from the spreadsheet as the template's type and upload it."
    ),
    "roster_has_problems": N_(
        "The roster has problems and nothing was imported. Correct the rows listed, then import again."
    ),
    "county_not_found": N_("There is no such county. Check its code and try again."),
    # rating and consent
    "rating_not_found": N_(
        "There is no rating yet. It is made from the household's points record; if you have questions, ask the "
        "village official."
    ),
    "review_request_not_found": N_("This review request is not among those you handle. Open the list again."),
    "review_already_answered": N_("This review request has already been answered. Open the list again."),
    "consent_not_found": N_("There is no such consent: it may have been taken back already. Open the page again."),
    "consent_required": N_(
        "The household has not given this bank consent to see its rating. It can give it on its phone, then look again."
    ),
    "partner_not_found": N_("There is no such partner. Pick one from the list."),
    # the county's settings and partners (county admin)
    "invalid_policy": N_(
        "One of the settings is outside what the programme allows. Check the numbers against the limits shown "
        "beside them, then save."
    ),
    "invalid_notice_privacy": N_("Pick how the notice board names a household from the list."),
    # the county's calendar and the deadlines of concerns (county admin)
    "calendar_hours_invalid": N_(
        "Working hours are two times of day written like 08:30, the opening before the closing; a resolved "
        "concern waits 1 to 60 days for its evaluation. Correct them, then save."
    ),
    "calendar_day_invalid": N_(
        "These days cannot be marked so: a make-up working day must be a Saturday or a Sunday, the year between "
        "2020 and 2100, a period from its first day to its last at most 31 days, and the name at most 40 characters. "
        "Nothing was marked."
    ),
    "category_deadlines_invalid": N_(
        "A deadline is a whole number of minutes: accepting and dispatching at most three working days (1620 "
        "minutes), resolving at most sixty days (86400 minutes). Correct it, then save."
    ),
    "category_not_found": N_("There is no such category of concerns in your county. Pick one from the list."),
    "open311_reports_limited": N_(
        "This connected system sent as many reports as it may in an hour. Wait, then send again; if it happens "
        "often, ask the county admin."
    ),
    "category_matter_invalid": N_(
        "A useful report earns a matter of the county's catalogue that gives points. Pick one from the list, or none."
    ),
    "concern_voice_not_found": N_("This concern has no voice note, or it is no longer kept."),
    "invalid_partner": N_(
        "Something about this partner is not right: check its kind, its code (small letters and digits), its "
        "name, and any sign-in name."
    ),
    "partner_exists": N_("A partner with this code exists already. Choose another code."),
    "client_exists": N_("A system connection with this name exists already. Choose another name, or leave it empty."),
    "client_not_found": N_("This partner has no such system connection. Open the partner's page again."),
    "open311_client_not_found": N_("Your county has no such outside system connection. Open the list again."),
    "invalid_open311_client": N_("Name the system connection in 1 to 100 characters."),
    "open311_key_invalid": N_("This system's key is not valid. Ask the county admin for a new one."),
    "open311_service_not_found": N_("There is no such kind of concern. Pick one from the list."),
    "concern_location_outside": N_("This place is in no village of the county. Pick a place from the village's list."),
    "scope_not_allowed": N_("This kind of partner may not be given that permission. Pick from the list."),
    "partner_username_taken": N_("This sign-in name is taken. Choose another one."),
    "no_rating_lookup": N_("Report a loan only after looking up the household's rating under its consent."),
    "report_through_the_application": N_(
        "This loan came through a loan application: report its status on the application."
    ),
    "unknown_loan": N_("Report that the loan was paid out first, then what followed."),
    "outcome_reported_together": N_("This was being reported twice at the same moment. Send it again to see it."),
    "not_enough_outcomes": N_(
        "There are not yet enough finished loans to check the scorecard against. Try again when more are reported."
    ),
    # redeeming
    "insufficient_points": N_(
        "Your household does not have enough points for this. Earn more points, or pick something that costs fewer."
    ),
    "offer_closed": N_("This offer is closed. Look at the other offers."),
    "offer_already_decided": N_("This offer has already been decided. Open the list again."),
    "offer_not_found": N_("There is no such offer. Go back and pick one from the list."),
    "offer_not_for_your_village": N_("This offer is not for your village. Look at the other offers."),
    "village_not_served": N_("Your partner does not serve this village. Pick one of the villages you serve."),
    "grade_too_low": N_("Your household's credit grade is below what this offer asks for. Look at the other offers."),
    "grade_not_offered": N_(
        "This loan is not offered to your household's credit grade. Look at the other loans, or ask the village "
        "official how the grade is made."
    ),
    "household_limit_reached": N_("Your household has used this offer as often as allowed. Look at the other offers."),
    "out_of_stock": N_("This offer is sold out. Look at the other offers."),
    "slot_full": N_("This time is fully booked. Pick another time."),
    "slot_passed": N_("This time has passed. Pick a later time."),
    "slot_not_found": N_("There is no such time. Pick a time from the list."),
    "too_late_to_cancel": N_(
        "It is too late to cancel this booking. If you cannot come, tell the clinic as soon as you can."
    ),
    "voucher_not_found": N_("There is no such voucher here. Check the voucher number, or scan the voucher's QR code."),
    "voucher_already_used": N_("This voucher was already used, so it cannot be used again."),
    "voucher_expired": N_("This voucher has expired, so it cannot be used."),
    "voucher_closed": N_("This voucher was cancelled or has ended, so it cannot be used."),
    "wrong_pin": N_("The voucher PIN is wrong. Ask the villager to read it again from their phone."),
    "voucher_pin_locked": N_("Too many wrong voucher PINs. Scan the voucher's QR code instead."),
    "pin_or_qr_required": N_("Enter the voucher PIN, or scan the voucher's QR code."),
    "amount_exceeds_value": N_("The amount is more than the voucher is worth. Enter a smaller amount."),
    "booking_not_started": N_("This booking's time has not come yet. Mark it once its time has started."),
    "wrong_offer_kind": N_("This cannot be done with this kind of offer. Go back and pick another."),
    # loans
    "loan_application_not_found": N_("There is no such loan application. Open the list again."),
    "loan_application_decided": N_("This application has already been decided. Open it again to see the decision."),
    "loan_application_not_withdrawable": N_(
        "This application can no longer be withdrawn. If you have questions, ask the bank."
    ),
    "loan_status_out_of_order": N_(
        "That status cannot follow the current one. Open the application again to see where it stands."
    ),
    "amount_above_limit": N_("The amount is more than this loan lends. Enter a smaller amount."),
    "term_above_limit": N_("The term is longer than this loan allows. Pick a shorter term."),
    "not_a_loan_product": N_("This offer is not a loan. Go back and pick a loan."),
    # partner systems (the county admin sets them up)
    "invalid_webhook_url": N_("This web address is not right. Give a full address that starts with https://."),
    "webhook_address_not_allowed": N_("This web address is not reachable from outside. Give a public address."),
    "webhook_delivery_not_found": N_("There is no such delivery of yours. Open the list of deliveries again."),
    "webhook_delivery_delivered": N_("This event has already arrived, so it is not sent again."),
    # the server's own commands: nothing was changed; the county's IT office runs them
    **dict.fromkeys(
        SERVER_COMMANDS,
        N_("This is done on the server by the county's IT office, not on a page. Ask the county admin."),
    ),
    # the ledger's own checks: nothing was written; only the county admin can look into it
    **dict.fromkeys(
        LEDGER_CHECKS,
        N_("The points record refused this, so nothing was changed. Tell the county admin what you were doing."),
    ),
    # village concerns
    "concern_not_found": N_("This concern is not among those you can see. Open the list of concerns again."),
    "concern_wrong_step": N_(
        "This concern has already moved on to another step. Open it again to see where it is now."
    ),
    "not_the_reporter": N_("Only the household that reported this concern evaluates it."),
    "not_the_handler": N_("Only the handler this concern was sent to returns or resolves it."),
    "handler_not_found": N_("This handler is not in the county's list. Pick one from the list."),
    "handler_inactive": N_("This handler no longer takes concerns. Pick another one."),
    "merge_into_self": N_("A concern cannot be merged into itself. Pick the concern it repeats."),
    "merge_target_closed": N_("Merge only into a concern that is still open."),
    "concern_text_required": N_("Say what it is about, in 1 to 1000 characters, then send again."),
    "concern_too_many_photos": N_("Send at most 3 photos."),
    "concern_photo_required": N_("Add 1 to 3 photos that show what was done, then send again."),
    "concern_voice_too_large": N_("The voice note is too long: keep it to about a minute."),
    "concern_voice_type": N_("This recording's format cannot be kept. Record it again in the app or the browser."),
    "category_exists": N_("The county already has a category with this code. Edit it instead."),
    "place_not_found": N_("This place is not on the village's list. Pick one from the list, or give your location."),
}

# Where a villager needs other words than staff for the same refusal: about their household, and whom to ask.
FOR_VILLAGERS: dict[str, str] = {
    "body_too_large": N_("The photo is too large. Take it again, or pick another photo."),
    "forbidden": N_("This page is not for villagers. Go back to My household."),
    "not_found": N_("This record does not belong to your household, or it is gone. Go back to My household."),
    "claim_not_found": N_(
        "This claim does not belong to your household, or it is gone. See your claims under My household."
    ),
    "deduction_not_found": N_(
        "This deduction does not belong to your household, or it is gone. See your household's record under My "
        "household."
    ),
    "household_not_found": N_("This record does not belong to your household. Go back to My household."),
    "village_not_found": N_("This is for another village. If you have questions, ask the village official."),
    "voucher_not_found": N_(
        "This voucher does not belong to your household, or it is gone. Go back to see your vouchers."
    ),
    "matter_inactive": N_(
        "This matter is no longer in use, so it earns no points. If you have questions, ask the village official."
    ),
    "matter_not_found": N_(
        "This matter is not in your village's catalogue. If you have questions, ask the village official."
    ),
    "internal_error": N_(
        "Something went wrong on our side and nothing was changed. Try again in a few minutes; if it happens "
        "again, ask the village official."
    ),
    "domain_error": N_("This could not be done. Go back and try again; if it happens again, ask the village official."),
    **dict.fromkeys(LEDGER_CHECKS, N_("This could not be done, and nothing was changed. Ask the village official.")),
}

# An objection to an entry of the village notice board: the refusals in the board's own words. None of them says
# whose the entry is (the board may not name its household).
OBJECTION_REFUSALS: dict[str, str] = {
    "claim_not_found": N_(
        "This entry is not on your village's notice board. Go back to My household to see the notice board."
    ),
    "own_entry": N_(
        "This entry is your own household's, so you cannot object to it. If something in it is wrong, tell the "
        "village official."
    ),
    "not_in_notice": N_(
        "This entry is no longer on the notice board, so an objection is no longer taken. If you have questions, "
        "ask the village official."
    ),
    "already_disputed": N_(
        "Your household has already objected to this entry. The village official is checking it; the answer will "
        "be under My household."
    ),
}
OBJECTION_REASON = N_("Write in a few words why this entry should be checked, then send again.")

NOTICES: dict[str, str] = {
    "concern_reported": N_("Your report is sent. Each step will show here, and you will be told."),
    "concern_merged": N_(
        "Someone reported the same problem already. Your report is joined to it: you follow it here and are told "
        "of each step."
    ),
    "concern_recorded": N_("The report is recorded."),
    "concern_accepted": N_("Accepted. Now send it to a handler."),
    "concern_dispatched": N_("Sent to the handler; its members are told."),
    "concern_merged_by_staff": N_("Merged: its reporter now follows the other concern."),
    "concern_returned": N_("Returned: it waits to be sent to another handler."),
    "concern_resolved": N_("Resolved: the reporter is told and can say whether it was done well."),
    "concern_closed": N_("Thank you. The concern is closed."),
    "concern_reopened": N_("It goes back to be handled again, by the township this time."),
    "signed_out": N_("You have signed out."),
    "password_changed": N_("Your new password is saved."),
    "account_was_locked": N_(
        "Since you last signed in, many wrong passwords were tried for your account and it "
        "was locked for a while. If that was not you, tell the county office."
    ),
    "code_sent": N_("A code was sent to your phone."),
    "approved": N_("Approved."),
    "rejected": N_("Rejected, with your reason."),
    "bulk_approved": N_("The selected claims were approved."),
    "saved": N_("Saved."),
    "consent_given": N_("The bank may now see your rating."),
    "consent_revoked": N_("The bank may no longer see your rating."),
    "review_asked": N_("Your request for a review was sent to the village."),
    "appealed": N_("Your appeal was sent. An official will answer it."),
    "objected": N_(
        "Your objection was sent. The village official will check the entry; until then its points wait. The "
        "answer will be under My household."
    ),
    "redeemed": N_("Done. Your voucher is below."),
    "cancelled": N_("Cancelled. The points are back."),
    "booked": N_("Booked. Show the code at the clinic."),
    "applied": N_("Your application was sent to the bank."),
    "consumed": N_("The voucher was used."),
    "decided": N_("Decision saved."),
    "reported": N_("Status reported."),
    "recorded": N_("Recorded."),
    "created": N_("Created."),
    "answered": N_("Your answer was sent to the household."),
    "award_in_notice": N_(
        "Awarded: the points are on the village notice board, and settle when its notice period is over."
    ),
    "award_waiting": N_("Entered: the award waits in the review queue until another official approves it."),
    "offer_proposed": N_("Sent: the offer waits for the county's approval before households see it."),
    "offer_withdrawn": N_("Withdrawn: households no longer see this offer. Vouchers already taken stay good."),
    "slot_added": N_("The slot was added."),
    "webhook_saved": N_("Saved. Events go to this web address from now on."),
    "delivery_queued": N_("It goes out again within a few seconds. Look here again in a minute."),
    "secret_already_new": N_(
        "A new secret was already made from this page, so no other was made. If you did not copy it, make one more."
    ),
}

FIELDS: dict[str, str] = {
    # what to put right, by the form field a page refused (a general "invalid" names no more than the field)
    "notice_privacy": N_("Pick how the notice board names a household from the list."),
    "code": N_("Enter the voucher number, or scan the voucher's QR code."),
    "amount": N_("Write the amount in yuan, like 12 or 12.50."),
    "starts_at": N_("Give the date and time the activity starts."),
    "ends_at": N_("Give the date and time the activity ends."),
    "event": N_("Pick what happened to the loan, and write amounts in whole yuan."),
    "latitude": N_("The phone sent a place that cannot be read. Send the claim without the location."),
    "longitude": N_("The phone sent a place that cannot be read. Send the claim without the location."),
}

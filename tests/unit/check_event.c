/* Check suite for event.c: every fixture's typed fields, the three time
 * forms, wrong types, refusals, reference counting and the name helpers. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livedesk/event.h"
#include "testutil.h"

#define ACCOUNT_ID	17629000001207LL
#define CONV_ID		89
#define INBOX_ID	523
#define CONTACT_ID	42218348
#define AGENT_ID	41
#define DEPTH		64

/* Field assertions that name the field on failure. */
#define ID_EQ(f, val) do {						\
	ck_assert_msg((f).set, #f " absent");				\
	ck_assert_int_eq((f).v, (val));					\
} while (0)
#define ID_ABSENT(f)	ck_assert_msg(!(f).set, #f " set")
#define BOOL_EQ(f, val) do {						\
	ck_assert_msg((f).set, #f " absent");				\
	ck_assert_int_eq((f).v, (val));					\
} while (0)
#define BOOL_ABSENT(f)	ck_assert_msg(!(f).set, #f " set")
#define TIME_EQ(f, val) do {						\
	ck_assert_msg((f).set, #f " absent");				\
	ck_assert_int_eq((f).usec, (val));				\
} while (0)
#define TIME_ABSENT(f)	ck_assert_msg(!(f).set, #f " set")
#define STR_EQ(f, val) do {						\
	ck_assert_msg((f) != NULL, #f " absent");			\
	ck_assert_str_eq((f), (val));					\
} while (0)
#define STR_ABSENT(f)	ck_assert_msg((f) == NULL, #f " set")

static const char THAI_HELLO[] = "สวัสดีคุณต้องการความช่วยเหลืออะไร";

/* Parses fixtures/NAME, which must succeed, and checks the raw copy. */
static struct ld_event *
parse_fixture(const char *name)
{
	struct ld_event_error err = { 0, "" };
	struct ld_event *ev;
	size_t len;
	char *body = tu_fixture(name, &len);

	ev = ld_event_parse(body, len, DEPTH, &err);
	ck_assert_msg(ev != NULL, "%s: %d %s", name, err.status, err.text);
	ck_assert_int_eq(ev->refs, 1);
	ck_assert_ptr_nonnull(ev->name);
	/* The strings are the event's own, not the body's. */
	ck_assert(ev->name < ev->raw || ev->name >= ev->raw + ev->raw_len);
	ck_assert_uint_eq(ev->raw_len, len);
	ck_assert_ptr_ne(ev->raw, body);
	ck_assert_int_eq(memcmp(ev->raw, body, len), 0);
	ck_assert_int_eq(ev->raw[len], '\0');
	ck_assert_str_eq(ev->delivery_id, "");
	ck_assert_int_eq(ev->received_usec, 0);
	free(body);
	return ev;
}

static struct ld_event *
parse_str(const char *body)
{
	struct ld_event_error err = { 0, "" };
	struct ld_event *ev = ld_event_parse(body, strlen(body), DEPTH, &err);

	ck_assert_msg(ev != NULL, "%s: %d %s", body, err.status, err.text);
	return ev;
}

/* Parses a body that must be refused; returns why. */
static struct ld_event_error
refuse(const char *body, size_t len, int max_depth)
{
	struct ld_event_error err = { 0, "" };

	ck_assert_ptr_null(ld_event_parse(body, len, max_depth, &err));
	ck_assert_msg(err.text[0] != '\0', "no error text");
	return err;
}

static struct ld_event_error
refuse_str(const char *body)
{
	return refuse(body, strlen(body), DEPTH);
}

/* The meta.sender of conversation 89 in the vendor samples. */
static void
assert_vendor_contact(const struct ld_person *p)
{
	ID_EQ(p->id, CONTACT_ID);
	STR_EQ(p->name, "Test");
	STR_EQ(p->email, "alice@acme.inc");
	STR_EQ(p->phone_number, "+123456789");
	STR_ABSENT(p->identifier);
	STR_EQ(p->thumbnail, "");
	BOOL_EQ(p->blocked, false);
	STR_EQ(p->type, "contact");
	STR_ABSENT(p->availability);
}

static void
assert_vendor_contact_inbox(const struct ld_contact_inbox *ci)
{
	ID_EQ(ci->id, 42213404);
	ID_EQ(ci->contact_id, CONTACT_ID);
	ID_EQ(ci->inbox_id, INBOX_ID);
	STR_EQ(ci->source_id, "1d484823-da29-4086-a7ba-d65ad0ebb588");
	STR_EQ(ci->pubsub_token, "4Urn7N5A974k6C2H7Xeva8Ni");
	BOOL_EQ(ci->hmac_verified, false);
	TIME_EQ(ci->created_at, 1768966009012000LL);	/* 03:26:49.012Z */
	TIME_EQ(ci->updated_at, 1768966009012000LL);
}

static void
assert_vendor_account(const struct ld_event *ev)
{
	ID_EQ(ev->account.id, ACCOUNT_ID);
	STR_EQ(ev->account.name, "1112");
}

static void
assert_no_message(const struct ld_event *ev)
{
	ck_assert(!ev->message.present);
	ID_ABSENT(ev->message.id);
	STR_ABSENT(ev->message.content);
	ck_assert_int_eq(ev->message.message_type, LD_MESSAGE_TYPE_NONE);
	ck_assert_uint_eq(ev->message.n_attachments, 0);
	ck_assert_ptr_null(ev->message.attachments);
}

static void
assert_person_absent(const struct ld_person *p)
{
	ID_ABSENT(p->id);
	STR_ABSENT(p->name);
	STR_ABSENT(p->email);
	STR_ABSENT(p->phone_number);
	STR_ABSENT(p->identifier);
	STR_ABSENT(p->type);
	STR_ABSENT(p->availability);
	STR_ABSENT(p->thumbnail);
	BOOL_ABSENT(p->blocked);
}

static void
assert_change(const struct ld_change *c, const char *name,
    const char *prev, const char *cur)
{
	ck_assert_str_eq(c->name, name);
	ck_assert_ptr_nonnull(c->previous);
	ck_assert_ptr_nonnull(c->current);
	if (prev == NULL)
		ck_assert(json_is_null(c->previous));
	else
		ck_assert_str_eq(json_string_value(c->previous), prev);
	if (cur == NULL)
		ck_assert(json_is_null(c->current));
	else
		ck_assert_str_eq(json_string_value(c->current), cur);
}

/* The three changes of the vendor's conversation_updated sample. */
static void
assert_vendor_changes(const struct ld_event *ev)
{
	ck_assert_uint_eq(ev->n_changes, 3);
	assert_change(&ev->changes[0], "updated_at",
	    "2026-01-21T04:04:56.548Z", "2026-01-21T04:04:56.601Z");
	assert_change(&ev->changes[1], "first_reply_created_at",
	    NULL, "2026-01-21T04:04:56.544Z");
	assert_change(&ev->changes[2], "waiting_since",
	    "2026-01-21T03:48:44.268Z", NULL);
}

START_TEST(test_conversation_created)
{
	struct ld_event *ev = parse_fixture("conversation_created.json");
	const struct ld_conversation *c = &ev->conversation;

	ck_assert_int_eq(ev->kind, LD_EVENT_CONVERSATION_CREATED);
	ck_assert_str_eq(ev->name, "conversation_created");
	ck_assert(!ld_event_is_message(ev));
	assert_vendor_account(ev);
	ID_EQ(ev->inbox.id, INBOX_ID);		/* from conversation.inbox_id */
	STR_ABSENT(ev->inbox.name);
	ck_assert(c->present);
	ID_EQ(c->id, CONV_ID);
	ID_EQ(c->inbox_id, INBOX_ID);
	STR_EQ(c->status, "open");
	STR_ABSENT(c->priority);
	STR_EQ(c->channel, "Channel::Api");
	BOOL_EQ(c->can_reply, true);
	ID_EQ(c->unread_count, 0);
	ck_assert_uint_eq(c->n_labels, 0);
	ck_assert_ptr_null(c->labels);
	assert_vendor_contact_inbox(&c->contact_inbox);
	assert_vendor_contact(&c->sender);
	assert_person_absent(&c->assignee);
	ID_ABSENT(c->team.id);
	STR_ABSENT(c->team.name);
	TIME_EQ(c->created_at, 1768967324000000LL);
	TIME_EQ(c->updated_at, 1768967324268219LL);	/* 1768967324.268219 */
	TIME_EQ(c->last_activity_at, 1768967324000000LL);
	TIME_EQ(c->waiting_since, 1768967324000000LL);
	TIME_EQ(c->timestamp, 1768967324000000LL);
	TIME_ABSENT(c->snoozed_until);
	TIME_ABSENT(c->first_reply_created_at);
	assert_no_message(ev);
	assert_vendor_contact(&ev->contact);
	ck_assert_uint_eq(ev->n_changes, 0);
	ck_assert_ptr_null(ev->changes);
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
	ld_event_unref(ev);
}
END_TEST

/* The vendor's message_created: an agent's outgoing reply. */
static void
assert_vendor_message_created(const struct ld_event *ev)
{
	const struct ld_message *m = &ev->message;
	const struct ld_conversation *c = &ev->conversation;

	ck_assert_int_eq(ev->kind, LD_EVENT_MESSAGE_CREATED);
	ck_assert_str_eq(ev->name, "message_created");
	ck_assert(ld_event_is_message(ev));
	assert_vendor_account(ev);
	ID_EQ(ev->inbox.id, INBOX_ID);
	STR_EQ(ev->inbox.name, "Test01");
	ck_assert(m->present);
	ID_EQ(m->id, 2187685);
	STR_EQ(m->content, THAI_HELLO);
	STR_EQ(m->content_type, "text");
	ck_assert_int_eq(m->message_type, LD_MESSAGE_TYPE_OUTGOING);
	BOOL_EQ(m->is_private, false);
	STR_ABSENT(m->status);
	STR_ABSENT(m->source_id);
	ID_ABSENT(m->in_reply_to);
	ID_EQ(m->contact_id, CONTACT_ID);
	ID_EQ(m->sender.id, AGENT_ID);
	STR_EQ(m->sender.name, "support");
	STR_EQ(m->sender.email, "support@jiguang.cn");
	STR_EQ(m->sender.type, "user");
	STR_EQ(m->sender.availability, "online");
	ck_assert_uint_eq(m->n_attachments, 0);
	TIME_EQ(m->created_at, 1768968296544000LL);	/* 04:04:56.544Z */
	ck_assert(c->present);
	ID_EQ(c->id, CONV_ID);
	ID_EQ(c->inbox_id, INBOX_ID);
	STR_EQ(c->status, "open");
	assert_vendor_contact_inbox(&c->contact_inbox);
	assert_vendor_contact(&c->sender);
	TIME_EQ(c->created_at, 1768967324000000LL);
	TIME_EQ(c->updated_at, 1768968296548344LL);	/* ...296.5483441 */
	TIME_EQ(c->last_activity_at, 1768968296000000LL);
	TIME_EQ(c->timestamp, 1768968296000000LL);
	/* The sender is an agent: the customer is meta.sender. */
	ck_assert_ptr_eq(ev->contact.name, c->sender.name);
	assert_vendor_contact(&ev->contact);
	ck_assert_uint_eq(ev->n_changes, 0);
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
}

START_TEST(test_message_created)
{
	struct ld_event *ev = parse_fixture("message_created.json");

	assert_vendor_message_created(ev);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_pretty)
{
	struct ld_event *pretty = parse_fixture("pretty.json");
	struct ld_event *compact = parse_fixture("message_created.json");
	size_t i, lines = 0;

	for (i = 0; i < pretty->raw_len; i++)
		lines += pretty->raw[i] == '\n';
	ck_assert_uint_gt(lines, 100);
	assert_vendor_message_created(pretty);
	{
		json_t *a = json_loadb(pretty->raw, pretty->raw_len, 0, NULL);
		json_t *b = json_loadb(compact->raw, compact->raw_len, 0, NULL);

		ck_assert(json_equal(a, b));
		json_decref(a);
		json_decref(b);
	}
	ld_event_unref(pretty);
	ld_event_unref(compact);
}
END_TEST

START_TEST(test_vendor_conversation_updated)
{
	struct ld_event *ev = parse_fixture("vendor_conversation_updated.json");

	ck_assert_int_eq(ev->kind, LD_EVENT_CONVERSATION_UPDATED);
	ck_assert_str_eq(ev->name, "conversation_updated");
	assert_vendor_changes(ev);
	ck_assert(ev->conversation.present);
	ID_ABSENT(ev->conversation.id);
	ID_ABSENT(ev->account.id);
	ID_ABSENT(ev->inbox.id);
	assert_no_message(ev);
	ID_ABSENT(ld_event_conversation_id(ev));
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_vendor_conversation_status_changed)
{
	struct ld_event *ev =
	    parse_fixture("vendor_conversation_status_changed.json");

	ck_assert_int_eq(ev->kind, LD_EVENT_CONVERSATION_STATUS_CHANGED);
	ck_assert_str_eq(ev->name, "conversation_status_changed");
	ck_assert(ev->conversation.present);
	STR_ABSENT(ev->conversation.status);
	ID_ABSENT(ev->account.id);
	assert_person_absent(&ev->contact);
	assert_no_message(ev);
	ck_assert_uint_eq(ev->n_changes, 0);
	ID_ABSENT(ld_event_conversation_id(ev));
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_vendor_message_updated)
{
	struct ld_event *ev = parse_fixture("vendor_message_updated.json");

	ck_assert_int_eq(ev->kind, LD_EVENT_MESSAGE_UPDATED);
	ck_assert_str_eq(ev->name, "message_updated");
	ck_assert(ld_event_is_message(ev));
	ck_assert(ev->message.present);
	ID_ABSENT(ev->message.id);
	ck_assert_int_eq(ev->message.message_type, LD_MESSAGE_TYPE_NONE);
	ck_assert(!ev->conversation.present);
	ID_ABSENT(ld_event_conversation_id(ev));
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_conversation_updated_full)
{
	struct ld_event *ev = parse_fixture("conversation_updated_full.json");
	const struct ld_conversation *c = &ev->conversation;

	ck_assert_int_eq(ev->kind, LD_EVENT_CONVERSATION_UPDATED);
	assert_vendor_account(ev);
	assert_vendor_changes(ev);
	ID_EQ(c->id, CONV_ID);
	ID_EQ(ev->inbox.id, INBOX_ID);
	assert_vendor_contact_inbox(&c->contact_inbox);
	assert_vendor_contact(&ev->contact);
	/* The same field as a float here and an ISO string in the change. */
	TIME_EQ(c->updated_at, 1768968296601000LL);
	TIME_EQ(c->first_reply_created_at, 1768968296544000LL);
	TIME_ABSENT(c->waiting_since);
	TIME_EQ(c->last_activity_at, 1768968296000000LL);
	assert_no_message(ev);
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_conversation_status_changed_full)
{
	struct ld_event *ev =
	    parse_fixture("conversation_status_changed_full.json");
	const struct ld_conversation *c = &ev->conversation;

	ck_assert_int_eq(ev->kind, LD_EVENT_CONVERSATION_STATUS_CHANGED);
	assert_vendor_account(ev);
	ID_EQ(c->id, CONV_ID);
	STR_EQ(c->status, "resolved");
	STR_EQ(c->priority, "high");
	ID_EQ(c->unread_count, 0);
	ck_assert_uint_eq(c->n_labels, 2);
	ck_assert_str_eq(c->labels[0], "vip");
	ck_assert_str_eq(c->labels[1], "billing");
	ID_EQ(c->assignee.id, AGENT_ID);
	STR_EQ(c->assignee.name, "support");
	STR_EQ(c->assignee.type, "user");
	STR_EQ(c->assignee.thumbnail, "");
	STR_ABSENT(c->assignee.availability);	/* availability_status */
	ID_EQ(c->team.id, 7);
	STR_EQ(c->team.name, "ทีมซัพพอร์ต");
	assert_vendor_contact(&c->sender);
	assert_vendor_contact(&ev->contact);
	TIME_EQ(c->first_reply_created_at, 1768968296000000LL);
	TIME_EQ(c->updated_at, 1768969000125000LL);
	TIME_EQ(c->last_activity_at, 1768968999000000LL);
	TIME_ABSENT(c->waiting_since);
	TIME_ABSENT(c->snoozed_until);
	ck_assert_uint_eq(ev->n_changes, 0);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_message_updated_full)
{
	struct ld_event *ev = parse_fixture("message_updated_full.json");
	const struct ld_message *m = &ev->message;

	ck_assert_int_eq(ev->kind, LD_EVENT_MESSAGE_UPDATED);
	ck_assert(ld_event_is_message(ev));
	assert_vendor_account(ev);
	ID_EQ(m->id, 2187685);
	STR_EQ(m->content, "สวัสดีค่ะ ต้องการความช่วยเหลืออะไรคะ");
	STR_EQ(m->status, "delivered");
	STR_EQ(m->source_id, "wamid.HBgLNjY4MTIzNDU2NzgVAgARGBI");
	ck_assert_int_eq(m->message_type, LD_MESSAGE_TYPE_OUTGOING);
	ID_EQ(m->sender.id, AGENT_ID);
	TIME_EQ(m->created_at, 1768968296544000LL);
	TIME_EQ(ev->conversation.updated_at, 1768968301021300LL);
	assert_vendor_contact(&ev->contact);
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_message_created_incoming)
{
	struct ld_event *ev = parse_fixture("message_created_incoming.json");
	const struct ld_message *m = &ev->message;
	const struct ld_conversation *c = &ev->conversation;

	ck_assert_int_eq(ev->kind, LD_EVENT_MESSAGE_CREATED);
	assert_vendor_account(ev);
	ID_EQ(m->id, 2187690);
	ck_assert_int_eq(m->message_type, LD_MESSAGE_TYPE_INCOMING);
	STR_EQ(m->content, "สวัสดีค่ะ อยากสอบถามเรื่องคำสั่งซื้อ #1042 ค่ะ");
	TIME_EQ(m->created_at, 1768968330120000LL);	/* 04:05:30.120Z */
	assert_vendor_contact(&m->sender);
	/* The sender is the contact: the customer is the message's sender. */
	ck_assert_ptr_eq(ev->contact.name, m->sender.name);
	assert_vendor_contact(&ev->contact);
	ID_EQ(c->id, CONV_ID);
	ID_EQ(c->unread_count, 1);
	TIME_EQ(c->updated_at, 1768968330193400LL);
	TIME_EQ(c->waiting_since, 1768968330000000LL);
	ID_EQ(ev->inbox.id, INBOX_ID);
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_attachments)
{
	struct ld_event *ev = parse_fixture("attachments.json");
	const struct ld_message *m = &ev->message;
	const struct ld_attachment *a;

	ck_assert_int_eq(m->message_type, LD_MESSAGE_TYPE_INCOMING);
	TIME_EQ(m->created_at, 1768968362330000LL);
	ck_assert_uint_eq(m->n_attachments, 2);
	a = &m->attachments[0];
	ID_EQ(a->id, 901);
	ID_EQ(a->message_id, 2187691);
	STR_EQ(a->file_type, "image");
	STR_ABSENT(a->extension);
	STR_EQ(a->data_url, "https://livedesk-api.engagelab.com/rails/"
	    "active_storage/blobs/redirect/"
	    "eyJfcmFpbHMiOnsiZGF0YSI6OTAxfX0=--3f1c/receipt.jpg");
	STR_EQ(a->thumb_url, "https://livedesk-api.engagelab.com/rails/"
	    "active_storage/representations/redirect/"
	    "eyJfcmFpbHMiOnsiZGF0YSI6OTAxfX0=--3f1c/receipt.jpg");
	ID_EQ(a->file_size, 183245);
	ID_EQ(a->width, 1080);
	ID_EQ(a->height, 1920);
	a = &m->attachments[1];
	ID_EQ(a->id, 902);
	ID_EQ(a->message_id, 2187691);
	STR_EQ(a->file_type, "file");
	STR_EQ(a->extension, "pdf");
	STR_EQ(a->data_url, "https://livedesk-api.engagelab.com/rails/"
	    "active_storage/blobs/redirect/"
	    "eyJfcmFpbHMiOnsiZGF0YSI6OTAyfX0=--77aa/invoice.pdf");
	STR_EQ(a->thumb_url, "");
	ID_EQ(a->file_size, 52311);
	ID_ABSENT(a->width);
	ID_ABSENT(a->height);
	ck_assert_ptr_eq(ev->contact.name, m->sender.name);
	ID_EQ(ev->contact.id, CONTACT_ID);
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_nulls)
{
	struct ld_event *ev = parse_fixture("nulls.json");
	const struct ld_message *m = &ev->message;

	ck_assert_int_eq(ev->kind, LD_EVENT_MESSAGE_CREATED);
	ID_ABSENT(ev->account.id);
	STR_ABSENT(ev->account.name);
	ID_ABSENT(ev->inbox.id);
	STR_ABSENT(ev->inbox.name);
	ck_assert(!ev->conversation.present);
	ck_assert(m->present);
	ID_ABSENT(m->id);
	STR_ABSENT(m->content);
	STR_ABSENT(m->content_type);
	ck_assert_int_eq(m->message_type, LD_MESSAGE_TYPE_NONE);
	BOOL_ABSENT(m->is_private);
	STR_ABSENT(m->status);
	STR_ABSENT(m->source_id);
	ID_ABSENT(m->in_reply_to);
	ID_ABSENT(m->contact_id);
	TIME_ABSENT(m->created_at);
	assert_person_absent(&m->sender);
	ck_assert_uint_eq(m->n_attachments, 0);
	ck_assert_ptr_null(m->attachments);
	assert_person_absent(&ev->contact);
	ck_assert_uint_eq(ev->n_changes, 0);
	ID_ABSENT(ld_event_conversation_id(ev));
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_nulls_conversation)
{
	struct ld_event *ev = parse_fixture("nulls_conversation.json");
	const struct ld_conversation *c = &ev->conversation;
	const struct ld_contact_inbox *ci = &c->contact_inbox;

	ck_assert_int_eq(ev->kind, LD_EVENT_CONVERSATION_UPDATED);
	ID_ABSENT(ev->account.id);
	STR_ABSENT(ev->account.name);
	ck_assert(c->present);
	ID_ABSENT(c->id);
	ID_ABSENT(c->inbox_id);
	STR_ABSENT(c->status);
	STR_ABSENT(c->priority);
	STR_ABSENT(c->channel);
	BOOL_ABSENT(c->can_reply);
	ID_ABSENT(c->unread_count);
	ck_assert_uint_eq(c->n_labels, 0);
	ID_ABSENT(ci->id);
	ID_ABSENT(ci->contact_id);
	ID_ABSENT(ci->inbox_id);
	STR_ABSENT(ci->source_id);
	STR_ABSENT(ci->pubsub_token);
	BOOL_ABSENT(ci->hmac_verified);
	TIME_ABSENT(ci->created_at);
	TIME_ABSENT(ci->updated_at);
	assert_person_absent(&c->sender);
	assert_person_absent(&c->assignee);
	ID_ABSENT(c->team.id);
	TIME_ABSENT(c->created_at);
	TIME_ABSENT(c->updated_at);
	TIME_ABSENT(c->last_activity_at);
	TIME_ABSENT(c->waiting_since);
	TIME_ABSENT(c->snoozed_until);
	TIME_ABSENT(c->first_reply_created_at);
	TIME_ABSENT(c->timestamp);
	assert_person_absent(&ev->contact);
	ck_assert_uint_eq(ev->n_changes, 1);
	assert_change(&ev->changes[0], "status", NULL, NULL);
	ID_ABSENT(ld_event_conversation_id(ev));
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_minimal_message_created)
{
	struct ld_event *ev = parse_fixture("minimal_message_created.json");

	ck_assert_int_eq(ev->kind, LD_EVENT_MESSAGE_CREATED);
	ck_assert_str_eq(ev->name, "message_created");
	ck_assert(ev->message.present);
	ID_ABSENT(ev->message.id);
	ck_assert_int_eq(ev->message.message_type, LD_MESSAGE_TYPE_NONE);
	ck_assert(!ev->conversation.present);
	ID_ABSENT(ev->account.id);
	ID_ABSENT(ev->inbox.id);
	assert_person_absent(&ev->contact);
	ID_ABSENT(ld_event_conversation_id(ev));
	ld_event_unref(ev);
}
END_TEST

/* contact_created, as an unknown event once was: the contact is read from
 * the top level, and its id is not taken for a conversation's. */
START_TEST(test_unknown_event)
{
	struct ld_event *ev = parse_fixture("unknown_event.json");

	ck_assert_int_eq(ev->kind, LD_EVENT_UNKNOWN);
	ck_assert_str_eq(ev->name, "contact_created");
	ck_assert_str_eq(ld_event_kind_name(ev->kind), "unknown");
	ck_assert(!ld_event_is_message(ev));
	assert_vendor_account(ev);
	ck_assert(!ev->conversation.present);
	ID_ABSENT(ld_event_conversation_id(ev));
	assert_no_message(ev);
	ID_EQ(ev->contact.id, CONTACT_ID);
	STR_EQ(ev->contact.name, "Test");
	ld_event_unref(ev);
}
END_TEST

/* Contact#webhook_data: a contact without a type key. */
static void
assert_webhook_contact(const struct ld_person *p)
{
	ID_EQ(p->id, CONTACT_ID);
	STR_EQ(p->name, "Test");
	STR_EQ(p->email, "alice@acme.inc");
	STR_EQ(p->phone_number, "+123456789");
	STR_ABSENT(p->identifier);
	STR_EQ(p->thumbnail, "");
	BOOL_EQ(p->blocked, false);
	STR_ABSENT(p->type);
}

/* The conversation of conversation_created.json, wherever it sits. */
static void
assert_vendor_conversation(const struct ld_event *ev)
{
	ck_assert(ev->conversation.present);
	ID_EQ(ev->conversation.id, CONV_ID);
	STR_EQ(ev->conversation.status, "open");
	assert_vendor_contact_inbox(&ev->conversation.contact_inbox);
	assert_vendor_contact(&ev->conversation.sender);
	ID_EQ(ev->inbox.id, INBOX_ID);
	assert_vendor_account(ev);	/* from conversation.account */
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
}

/* An agent types a private note: the conversation nested, the typist in
 * user; no message. */
START_TEST(test_typing_on)
{
	struct ld_event *ev = parse_fixture("conversation_typing_on.json");

	ck_assert_int_eq(ev->kind, LD_EVENT_UNKNOWN);
	ck_assert_str_eq(ev->name, "conversation_typing_on");
	ck_assert(!ld_event_is_message(ev));
	assert_no_message(ev);
	assert_vendor_conversation(ev);
	ck_assert(ev->typing.present);
	ID_EQ(ev->typing.user.id, AGENT_ID);
	STR_EQ(ev->typing.user.name, "support");
	STR_EQ(ev->typing.user.email, "support@jiguang.cn");
	STR_EQ(ev->typing.user.type, "user");
	BOOL_EQ(ev->typing.is_private, true);
	/* The customer is still the conversation's contact. */
	assert_vendor_contact(&ev->contact);
	ck_assert_uint_eq(ev->n_changes, 0);
	ld_event_unref(ev);
}
END_TEST

/* The contact stops typing: a contact's webhook data as the user. */
START_TEST(test_typing_off)
{
	struct ld_event *ev = parse_fixture("conversation_typing_off.json");

	ck_assert_str_eq(ev->name, "conversation_typing_off");
	assert_no_message(ev);
	assert_vendor_conversation(ev);
	ck_assert(ev->typing.present);
	assert_webhook_contact(&ev->typing.user);
	BOOL_EQ(ev->typing.is_private, false);
	assert_vendor_contact(&ev->contact);
	ld_event_unref(ev);
}
END_TEST

/* The top level is the contact inbox (its id is not a conversation's);
 * the conversation is current_conversation. */
START_TEST(test_webwidget_triggered)
{
	struct ld_event *ev = parse_fixture("webwidget_triggered.json");

	ck_assert_str_eq(ev->name, "webwidget_triggered");
	ck_assert(!ld_event_is_message(ev));
	assert_no_message(ev);
	assert_vendor_conversation(ev);
	STR_EQ(ev->conversation.channel, "Channel::WebWidget");
	STR_EQ(ev->inbox.name, "Test01");
	assert_webhook_contact(&ev->contact);
	ck_assert(!ev->typing.present);
	assert_person_absent(&ev->typing.user);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_contact_created)
{
	struct ld_event *ev = parse_fixture("contact_created.json");

	ck_assert_str_eq(ev->name, "contact_created");
	assert_no_message(ev);
	ck_assert(!ev->conversation.present);
	ID_ABSENT(ld_event_conversation_id(ev));
	assert_webhook_contact(&ev->contact);
	assert_vendor_account(ev);
	ID_ABSENT(ev->inbox.id);
	ck_assert_uint_eq(ev->n_changes, 0);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_contact_updated)
{
	struct ld_event *ev = parse_fixture("contact_updated.json");

	ck_assert_str_eq(ev->name, "contact_updated");
	ck_assert(!ev->conversation.present);
	ID_EQ(ev->contact.id, CONTACT_ID);
	STR_EQ(ev->contact.phone_number, "+66812345678");
	assert_vendor_account(ev);
	ck_assert_uint_eq(ev->n_changes, 2);
	assert_change(&ev->changes[0], "phone_number", "+123456789",
	    "+66812345678");
	ck_assert_str_eq(ev->changes[1].name, "updated_at");
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_inbox_created)
{
	struct ld_event *ev = parse_fixture("inbox_created.json");

	ck_assert_str_eq(ev->name, "inbox_created");
	assert_no_message(ev);
	ck_assert(!ev->conversation.present);
	ID_ABSENT(ld_event_conversation_id(ev));
	ID_EQ(ev->inbox.id, INBOX_ID);
	STR_EQ(ev->inbox.name, "Test01");
	assert_person_absent(&ev->contact);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_inbox_updated)
{
	struct ld_event *ev = parse_fixture("inbox_updated.json");

	ck_assert_str_eq(ev->name, "inbox_updated");
	ck_assert(!ev->conversation.present);
	ID_EQ(ev->inbox.id, INBOX_ID);
	STR_EQ(ev->inbox.name, "ฝ่ายขาย");
	ck_assert_uint_eq(ev->n_changes, 1);
	assert_change(&ev->changes[0], "name", "Test01", "ฝ่ายขาย");
	ld_event_unref(ev);
}
END_TEST

/* A send that failed: the status and the channel's error, for a script
 * to react to. */
START_TEST(test_message_updated_failed)
{
	struct ld_event *ev = parse_fixture("message_updated_failed.json");

	ck_assert_int_eq(ev->kind, LD_EVENT_MESSAGE_UPDATED);
	ID_EQ(ev->message.id, 2187685);
	ck_assert_int_eq(ev->message.message_type, LD_MESSAGE_TYPE_OUTGOING);
	STR_EQ(ev->message.status, "failed");
	STR_EQ(ev->message.external_error,
	    "131047: Re-engagement message is not allowed");
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
	ld_event_unref(ev);
}
END_TEST

/* Automation rules and macros send the conversation at the top level, as
 * conversation events do, even one that does not look like one. */
START_TEST(test_automation_and_macro)
{
	static const char *const names[] = {
		"automation_event.message_created", "macro.executed",
	};
	char body[200];
	struct ld_event *ev;
	size_t i;

	for (i = 0; i < 2; i++) {
		snprintf(body, sizeof body, "{\"event\":\"%s\",\"id\":89,"
		    "\"status\":\"open\"}", names[i]);
		ev = parse_str(body);
		ck_assert_int_eq(ev->kind, LD_EVENT_UNKNOWN);
		ck_assert(ev->conversation.present);
		ID_EQ(ld_event_conversation_id(ev), CONV_ID);
		STR_EQ(ev->conversation.status, "open");
		assert_no_message(ev);
		ld_event_unref(ev);
	}
}
END_TEST

/* An unknown event whose top level looks like a conversation. */
START_TEST(test_unknown_event_conversation_shape)
{
	struct ld_event *ev = parse_str("{\"event\":\"conversation_opened\","
	    "\"id\":89,\"inbox_id\":523,\"status\":\"open\"}");

	ck_assert(ev->conversation.present);
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
	ck_assert_str_eq(ev->conversation.status, "open");
	ld_event_unref(ev);
}
END_TEST

/* An unknown event that nests a conversation is read as a message. */
START_TEST(test_unknown_event_nested_conversation)
{
	struct ld_event *ev = parse_str("{\"event\":\"message_reacted\","
	    "\"id\":7,\"conversation\":{\"id\":89,\"inbox_id\":523,"
	    "\"account\":{\"id\":17629000001207,\"name\":\"1112\"}},"
	    "\"user\":{\"id\":41},\"is_private\":false}");

	ck_assert_int_eq(ev->kind, LD_EVENT_UNKNOWN);
	ck_assert_str_eq(ev->name, "message_reacted");
	ck_assert(!ld_event_is_message(ev));
	ck_assert(ev->message.present);
	ID_EQ(ev->message.id, 7);
	ck_assert(ev->conversation.present);
	ID_EQ(ev->conversation.id, CONV_ID);
	ID_EQ(ev->inbox.id, INBOX_ID);
	assert_vendor_account(ev);	/* from conversation.account */
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
	ck_assert(!ev->typing.present);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_emoji)
{
	struct ld_event *ev = parse_fixture("emoji.json");
	const struct ld_conversation *c = &ev->conversation;

	ck_assert_int_eq(ev->message.message_type, LD_MESSAGE_TYPE_INCOMING);
	/* \ud83d\ude00 arrives as a surrogate pair and leaves as UTF-8. */
	STR_EQ(ev->message.content, "สวัสดีครับ 🙏😊 สั่ง 2 ชิ้น 👍🏽 "
	    "\xf0\x9f\x98\x80 🇹🇭");
	STR_EQ(ev->message.sender.name, "Test 🌶️");
	STR_EQ(ev->contact.name, "Test 🌶️");
	ck_assert_uint_eq(c->n_labels, 2);
	ck_assert_str_eq(c->labels[0], "ลูกค้าใหม่");
	ck_assert_str_eq(c->labels[1], "🔥hot");
	TIME_EQ(ev->message.created_at, 1768968431007000LL);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_wrong_types)
{
	struct ld_event *ev = parse_fixture("wrong_types.json");
	const struct ld_message *m = &ev->message;
	const struct ld_conversation *c = &ev->conversation;

	ck_assert_int_eq(ev->kind, LD_EVENT_MESSAGE_CREATED);
	ID_ABSENT(ev->account.id);	/* an array, then a string */
	STR_ABSENT(ev->account.name);
	ID_ABSENT(ev->inbox.id);	/* a string, then 523.5 */
	STR_ABSENT(ev->inbox.name);
	ID_ABSENT(m->id);		/* "2187685" */
	STR_ABSENT(m->content);		/* 42 */
	STR_ABSENT(m->content_type);
	ck_assert_int_eq(m->message_type, LD_MESSAGE_TYPE_NONE);	/* 7 */
	BOOL_ABSENT(m->is_private);	/* "false" */
	STR_ABSENT(m->status);
	STR_ABSENT(m->source_id);
	ID_ABSENT(m->in_reply_to);
	ID_EQ(m->contact_id, CONTACT_ID);	/* 42218348.0 */
	TIME_ABSENT(m->created_at);
	assert_person_absent(&m->sender);
	ck_assert_uint_eq(m->n_attachments, 0);
	ck_assert_uint_eq(ev->n_changes, 0);
	ck_assert(c->present);
	ID_ABSENT(c->id);
	ID_ABSENT(c->inbox_id);
	ID_EQ(c->unread_count, 2);		/* 2.0 */
	BOOL_ABSENT(c->can_reply);
	STR_ABSENT(c->status);
	STR_ABSENT(c->priority);
	STR_ABSENT(c->channel);
	ck_assert_uint_eq(c->n_labels, 2);
	ck_assert_str_eq(c->labels[0], "vip");
	ck_assert_str_eq(c->labels[1], "billing");
	ID_ABSENT(c->contact_inbox.id);
	assert_person_absent(&c->assignee);
	ID_ABSENT(c->team.id);
	ID_ABSENT(c->sender.id);		/* 1.5e19 */
	STR_ABSENT(c->sender.name);
	STR_EQ(c->sender.email, "alice@acme.inc");
	BOOL_ABSENT(c->sender.blocked);
	TIME_ABSENT(c->updated_at);		/* an epoch in a string */
	TIME_ABSENT(c->created_at);
	TIME_ABSENT(c->timestamp);
	TIME_ABSENT(c->last_activity_at);
	TIME_ABSENT(c->waiting_since);		/* a date alone */
	TIME_ABSENT(c->snoozed_until);		/* trailing text */
	TIME_ABSENT(c->first_reply_created_at);	/* a space for the T */
	/* The message's sender is no contact: meta.sender stands in. */
	STR_EQ(ev->contact.email, "alice@acme.inc");
	/* Falls back to the top-level conversation_id. */
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_message_private)
{
	struct ld_event *ev = parse_fixture("message_private.json");
	const struct ld_message *m = &ev->message;

	ck_assert_int_eq(m->message_type, LD_MESSAGE_TYPE_OUTGOING);
	BOOL_EQ(m->is_private, true);
	ID_EQ(m->id, 2187693);
	STR_EQ(m->content, "หมายเหตุภายใน: ลูกค้าขอใบกำกับภาษี รอฝ่ายบัญชียืนยัน");
	STR_EQ(m->sender.type, "user");
	ID_EQ(m->sender.id, AGENT_ID);
	TIME_EQ(m->created_at, 1768968400000000LL);
	TIME_EQ(ev->conversation.updated_at, 1768968400500000LL);
	ck_assert_ptr_eq(ev->contact.name, ev->conversation.sender.name);
	assert_vendor_contact(&ev->contact);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_in_reply_to)
{
	struct ld_event *ev = parse_fixture("in_reply_to.json");

	ID_EQ(ev->message.in_reply_to, 2187690);
	ID_EQ(ev->message.id, 2187695);
	ck_assert_int_eq(ev->message.message_type, LD_MESSAGE_TYPE_OUTGOING);
	/* 11:07:05+07:00 is 04:07:05Z. */
	TIME_EQ(ev->message.created_at, 1768968425000000LL);
	ID_EQ(ev->contact.id, CONTACT_ID);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_changed_attributes_mixed)
{
	struct ld_event *ev = parse_fixture("changed_attributes_mixed.json");
	const struct ld_change *ch = ev->changes;

	ck_assert_int_eq(ev->kind, LD_EVENT_CONVERSATION_UPDATED);
	ck_assert_uint_eq(ev->n_changes, 5);
	assert_change(&ch[0], "status", "open", "resolved");
	assert_change(&ch[1], "priority", NULL, "high");
	ck_assert_str_eq(ch[2].name, "unread_count");
	ck_assert_int_eq(json_integer_value(ch[2].previous), 3);
	ck_assert_int_eq(json_integer_value(ch[2].current), 0);
	ck_assert(json_is_integer(ch[2].current));
	ck_assert_str_eq(ch[3].name, "assignee_id");
	ck_assert_ptr_null(ch[3].previous);
	ck_assert_int_eq(json_integer_value(ch[3].current), AGENT_ID);
	ck_assert_str_eq(ch[4].name, "label_list");
	ck_assert_ptr_null(ch[4].previous);
	ck_assert_ptr_null(ch[4].current);
	STR_EQ(ev->conversation.status, "resolved");
	ld_event_unref(ev);
}
END_TEST

/* Every fixture parses, with and without a depth limit, and is refused
 * cleanly when cut short at any length. */
START_TEST(test_every_fixture_truncated)
{
	static const char *const names[] = {
		"conversation_created.json", "message_created.json",
		"pretty.json", "attachments.json", "emoji.json",
		"wrong_types.json", "changed_attributes_mixed.json",
		"nul_in_string.json", "big_integer.json", "huge_number.json",
		"conversation_typing_on.json", "conversation_typing_off.json",
		"webwidget_triggered.json", "contact_created.json",
		"contact_updated.json", "inbox_created.json",
		"inbox_updated.json", "message_updated_failed.json",
	};
	struct ld_event_error err;
	struct ld_event *ev;
	size_t i, n, len, end;
	char *body;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		body = tu_fixture(names[i], &len);
		ev = ld_event_parse(body, len, 0, &err);
		ck_assert_ptr_nonnull(ev);
		ld_event_unref(ev);
		/* Every cut before the closing brace. */
		end = (size_t)(strrchr(body, '}') - body);
		for (n = 0; n < end; n += n + 7 < end ? 7 : 1) {
			ev = ld_event_parse(body, n, DEPTH, &err);
			ck_assert_msg(ev == NULL && err.status == 400,
			    "%s cut at %zu parsed", names[i], n);
		}
		free(body);
	}
}
END_TEST

/* Parses {"event":"conversation_created","created_at":VALUE}. */
static struct ld_time
time_of(const char *value)
{
	char body[256];
	struct ld_event *ev;
	struct ld_time t;

	snprintf(body, sizeof body,
	    "{\"event\":\"conversation_created\",\"created_at\":%s}", value);
	ev = parse_str(body);
	t = ev->conversation.created_at;
	ld_event_unref(ev);
	return t;
}

#define TIME_OF(v, want) do {						\
	struct ld_time t_ = time_of(v);					\
	ck_assert_msg(t_.set, "%s absent", v);				\
	ck_assert_msg(t_.usec == (want), "%s: %lld", v,			\
	    (long long)t_.usec);					\
} while (0)
#define TIME_OF_ABSENT(v) \
	ck_assert_msg(!time_of(v).set, "%s accepted", v)

START_TEST(test_time_iso)
{
	TIME_OF("\"2026-01-21T04:04:56.544Z\"", 1768968296544000LL);
	TIME_OF("\"2026-01-21T04:04:56.544z\"", 1768968296544000LL);
	TIME_OF("\"2026-01-21T11:04:56.544+07:00\"", 1768968296544000LL);
	TIME_OF("\"2026-01-20T23:04:56.544-0500\"", 1768968296544000LL);
	TIME_OF("\"2026-01-21T11:04:56.544+07\"", 1768968296544000LL);
	TIME_OF("\"2026-01-21T04:04:56.544+00:00\"", 1768968296544000LL);
	TIME_OF("\"2026-01-21T04:04:56,544Z\"", 1768968296544000LL);
	TIME_OF("\"2026-01-21T04:04:56Z\"", 1768968296000000LL);
	TIME_OF("\"2026-01-21T04:04:56\"", 1768968296000000LL);
	TIME_OF("\"2026-01-21T04:04:56.5Z\"", 1768968296500000LL);
	TIME_OF("\"2026-01-21T04:04:56.548344Z\"", 1768968296548344LL);
	/* A seventh digit rounds; further ones are ignored. */
	TIME_OF("\"2026-01-21T04:04:56.5483441Z\"", 1768968296548344LL);
	TIME_OF("\"2026-01-21T04:04:56.5483445999Z\"", 1768968296548345LL);
	TIME_OF("\"2026-01-21T03:26:49.012Z\"", 1768966009012000LL);
	TIME_OF("\"1970-01-01T00:00:00Z\"", 0);
	TIME_OF("\"1969-12-31T23:59:59.5Z\"", -500000);
	TIME_OF("\"2000-02-29T12:00:00Z\"", 951825600000000LL);
	TIME_OF("\"2026-12-31T23:59:59.999999Z\"", 1798761599999999LL);
}
END_TEST

START_TEST(test_time_iso_refused)
{
	TIME_OF_ABSENT("\"2026-01-21\"");
	TIME_OF_ABSENT("\"1768967324\"");
	TIME_OF_ABSENT("\"1768967324.268219\"");
	TIME_OF_ABSENT("\" 2026-01-21T04:04:56Z\"");
	TIME_OF_ABSENT("\"2026-01-21T04:04:56Zx\"");
	TIME_OF_ABSENT("\"2026-01-21T04:04:56 \"");
	TIME_OF_ABSENT("\"2026-01-21T04:04:56+7:00\"");
	TIME_OF_ABSENT("\"2026-01-21T04:04:56+25:00\"");
	TIME_OF_ABSENT("\"2026-01-21T04:04:56+07:\"");
	TIME_OF_ABSENT("\"2026-01-21T04:04:56.\"");
	TIME_OF_ABSENT("\"2026-01-21T04:04:56.Z\"");
	TIME_OF_ABSENT("\"2026-01-21 04:04:56Z\"");
	TIME_OF_ABSENT("\"2026-13-21T04:04:56Z\"");
	TIME_OF_ABSENT("\"2026-01-21T24:04:56Z\"");
	TIME_OF_ABSENT("\"yesterday\"");
	TIME_OF_ABSENT("\"\"");
}
END_TEST

START_TEST(test_time_numbers)
{
	TIME_OF("0", 0);	/* agent_last_seen_at: 0 is a time */
	TIME_OF("1768967324", 1768967324000000LL);
	TIME_OF("-1", -1000000);
	TIME_OF("1768967324.268219", 1768967324268219LL);
	TIME_OF("1768968296.5483441", 1768968296548344LL);
	TIME_OF("1768968330.1934", 1768968330193400LL);
	TIME_OF("1768967324.9999999", 1768967325000000LL);
	TIME_OF("1768967324.0", 1768967324000000LL);
	TIME_OF("0.000001", 1);
	TIME_OF("0.0", 0);
	TIME_OF("-0.5", -500000);
	TIME_OF("9223372036854", 9223372036854000000LL);
	TIME_OF_ABSENT("9223372036855");	/* overflows microseconds */
	TIME_OF_ABSENT("9223372036854775807");
	TIME_OF_ABSENT("-9223372036854775807");
	TIME_OF_ABSENT("1e300");
	TIME_OF_ABSENT("-1e300");
	TIME_OF_ABSENT("true");
	TIME_OF_ABSENT("null");
	TIME_OF_ABSENT("[]");
	TIME_OF_ABSENT("{\"t\":1}");
}
END_TEST

/* Parses {"event":"conversation_created","id":VALUE}. */
static struct ld_id
id_of(const char *value)
{
	char body[256];
	struct ld_event *ev;
	struct ld_id id;

	snprintf(body, sizeof body,
	    "{\"event\":\"conversation_created\",\"id\":%s}", value);
	ev = parse_str(body);
	id = ev->conversation.id;
	ld_event_unref(ev);
	return id;
}

START_TEST(test_ids)
{
	ID_EQ(id_of("17629000001207"), ACCOUNT_ID);
	ID_EQ(id_of("9223372036854775807"), INT64_MAX);
	ID_EQ(id_of("-9223372036854775808"), INT64_MIN);
	ID_EQ(id_of("-5"), -5);
	ID_EQ(id_of("0"), 0);
	ID_EQ(id_of("89.0"), CONV_ID);
	ID_EQ(id_of("1.7629000001207e13"), ACCOUNT_ID);
	ID_EQ(id_of("-9223372036854775808.0"), INT64_MIN);
	ID_ABSENT(id_of("89.5"));
	ID_ABSENT(id_of("9223372036854775808.0"));
	ID_ABSENT(id_of("1e19"));
	ID_ABSENT(id_of("\"89\""));
	ID_ABSENT(id_of("true"));
	ID_ABSENT(id_of("null"));
	ID_ABSENT(id_of("[89]"));
	ID_ABSENT(id_of("{\"id\":89}"));
}
END_TEST

/* Parses {"event":"message_created","message_type":VALUE}. */
static enum ld_message_type
message_type_of(const char *value)
{
	char body[256];
	struct ld_event *ev;
	enum ld_message_type t;

	snprintf(body, sizeof body,
	    "{\"event\":\"message_created\",\"message_type\":%s}", value);
	ev = parse_str(body);
	t = ev->message.message_type;
	ld_event_unref(ev);
	return t;
}

#define MT(v, want)	ck_assert_int_eq(message_type_of(v), LD_MESSAGE_TYPE_##want)

/* A conversation id that cannot order its conversation's events. */
START_TEST(test_conversation_id_invalid)
{
	static const struct {
		const char	*body;
		bool		 invalid;
	} cases[] = {
		{ "{\"event\":\"conversation_created\",\"id\":89}", false },
		{ "{\"event\":\"conversation_created\",\"id\":0}", false },
		{ "{\"event\":\"conversation_created\",\"id\":-5}", true },
		{ "{\"event\":\"conversation_created\",\"id\":\"89\"}", true },
		{ "{\"event\":\"conversation_created\",\"id\":89.5}", true },
		{ "{\"event\":\"conversation_created\",\"id\":89.0}", false },
		{ "{\"event\":\"conversation_created\",\"id\":1e400}", true },
		{ "{\"event\":\"conversation_created\","
		    "\"id\":99999999999999999999}", true },
		{ "{\"event\":\"conversation_created\",\"id\":true}", true },
		{ "{\"event\":\"conversation_created\",\"id\":null}", false },
		{ "{\"event\":\"conversation_created\"}", false },
		{ "{\"event\":\"message_created\",\"conversation\":"
		    "{\"id\":-1}}", true },
		{ "{\"event\":\"message_created\",\"conversation_id\":-1}",
		    true },
		{ "{\"event\":\"message_created\",\"conversation_id\":\"x\"}",
		    true },
		/* The top-level id is the fallback that orders it. */
		{ "{\"event\":\"message_created\",\"conversation\":"
		    "{\"id\":\"89\"},\"conversation_id\":89}", false },
		{ "{\"event\":\"message_created\",\"id\":-1}", false },
		/* A contact's id is not a conversation's. */
		{ "{\"event\":\"contact_created\",\"id\":-1}", false },
		{ "{\"event\":\"webwidget_triggered\",\"id\":1,"
		    "\"current_conversation\":{\"id\":-2}}", true },
	};
	struct ld_event *ev;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ev = parse_str(cases[i].body);
		ck_assert_msg(ld_event_conversation_id_invalid(ev) ==
		    cases[i].invalid, "%s", cases[i].body);
		ld_event_unref(ev);
	}
}
END_TEST

START_TEST(test_message_type_forms)
{
	MT("\"incoming\"", INCOMING);
	MT("\"outgoing\"", OUTGOING);
	MT("\"activity\"", ACTIVITY);
	MT("\"template\"", TEMPLATE);
	MT("0", INCOMING);
	MT("1", OUTGOING);
	MT("2", ACTIVITY);
	MT("3", TEMPLATE);
	MT("4", NONE);
	MT("-1", NONE);
	MT("1.0", NONE);
	MT("\"1\"", NONE);
	MT("\"Outgoing\"", NONE);
	MT("\"sent\"", NONE);
	MT("true", NONE);
	MT("null", NONE);
}
END_TEST

START_TEST(test_contact_type_case)
{
	struct ld_event *ev = parse_str("{\"event\":\"message_created\","
	    "\"sender\":{\"id\":7,\"type\":\"Contact\"},"
	    "\"conversation\":{\"meta\":{\"sender\":{\"id\":8}}}}");

	ID_EQ(ev->contact.id, 7);
	ld_event_unref(ev);
	ev = parse_str("{\"event\":\"message_created\","
	    "\"sender\":{\"id\":7,\"type\":\"agent_bot\"},"
	    "\"conversation\":{\"meta\":{\"sender\":{\"id\":8}}}}");
	ID_EQ(ev->contact.id, 8);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_error_not_json)
{
	struct ld_event_error err;

	err = refuse_str("{\"event\": nope}");
	ck_assert_int_eq(err.status, 400);
	ck_assert_msg(strncmp(err.text, "invalid JSON at line 1, column ",
	    31) == 0, "%s", err.text);
	err = refuse_str("{\n\"event\": \"message_created\",\n  oops}");
	ck_assert_int_eq(err.status, 400);
	ck_assert_msg(strstr(err.text, "at line 3, column ") != NULL,
	    "%s", err.text);
	err = refuse_str("{\"event\":\"message_created\"} {}");
	ck_assert_int_eq(err.status, 400);
	err = refuse_str("{\"event\":\"message_created\",}");
	ck_assert_int_eq(err.status, 400);
	err = refuse_str("\xef\xbb\xbf{\"event\":\"message_created\"}");
	ck_assert_int_eq(err.status, 400);
}
END_TEST

START_TEST(test_error_not_object)
{
	static const char *const bodies[] = {
		"[{\"event\":\"message_created\"}]", "[]",
		"\"message_created\"", "42", "true", "null",
	};
	struct ld_event_error err;
	size_t i;

	for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		err = refuse_str(bodies[i]);
		ck_assert_msg(err.status == 400, "%s: %d", bodies[i],
		    err.status);
	}
}
END_TEST

START_TEST(test_error_no_event)
{
	static const char *const bodies[] = {
		"{}", "{\"Event\":\"message_created\"}", "{\"event\":null}",
		"{\"event\":5}", "{\"event\":true}", "{\"event\":[\"x\"]}",
		"{\"event\":{\"name\":\"message_created\"}}",
		"{\"conversation\":{\"event\":\"message_created\"}}",
	};
	struct ld_event_error err;
	size_t i;

	for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		err = refuse_str(bodies[i]);
		ck_assert_msg(err.status == 422, "%s: %d", bodies[i],
		    err.status);
		ck_assert_str_eq(err.text, "missing or non-string \"event\"");
	}
}
END_TEST

START_TEST(test_error_duplicate_keys)
{
	struct ld_event_error err;

	err = refuse_str("{\"event\":\"message_created\","
	    "\"event\":\"conversation_created\"}");
	ck_assert_int_eq(err.status, 400);
	ck_assert_msg(strstr(err.text, "duplicate") != NULL, "%s", err.text);
	err = refuse_str("{\"event\":\"message_created\","
	    "\"sender\":{\"id\":1,\"id\":2}}");
	ck_assert_int_eq(err.status, 400);
}
END_TEST

START_TEST(test_error_bad_utf8)
{
	static const char *const bodies[] = {
		"{\"event\":\"message_created\",\"content\":\"\xff\xfe\"}",
		"{\"event\":\"message_\xe0\xb8\"}",		/* cut short */
		"{\"event\":\"message_created\",\"content\":\"\xc0\xaf\"}",
		"{\"event\":\"message_created\",\"content\":\"\xed\xa0\x80\"}",
		"{\"event\":\"message_created\",\"content\":\"\\ud800\"}",
		"{\"event\":\"message_created\",\"\xff\":1}",
	};
	struct ld_event_error err;
	size_t i;

	for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		err = refuse_str(bodies[i]);
		ck_assert_msg(err.status == 400, "body %zu: %d", i,
		    err.status);
	}
}
END_TEST

/* \u0000 is valid JSON: the body is accepted, the string is not one the
 * typed view can hold and is absent; a raw NUL byte is not JSON. */
START_TEST(test_error_nul)
{
	static const char escaped[] =
	    "{\"event\":\"message_created\",\"content\":\"a\\u0000b\","
	    "\"content_type\":\"text\",\"labels\":0,\"sender\":"
	    "{\"name\":\"\\u0000\",\"email\":\"a@b.c\"}}";
	static const char raw[] =
	    "{\"event\":\"message_created\",\"content\":\"a\0b\"}";
	struct ld_event_error err;
	struct ld_event *ev;

	ev = parse_str(escaped);
	STR_ABSENT(ev->message.content);
	STR_EQ(ev->message.content_type, "text");
	STR_ABSENT(ev->message.sender.name);
	STR_EQ(ev->message.sender.email, "a@b.c");
	ld_event_unref(ev);
	err = refuse(raw, sizeof raw - 1, DEPTH);
	ck_assert_int_eq(err.status, 400);
	ck_assert_msg(strstr(err.text, "line 1, column") != NULL, "%s",
	    err.text);
	/* An event name holding one is no name. */
	err = refuse_str("{\"event\":\"message_created\\u0000\"}");
	ck_assert_int_eq(err.status, 422);
}
END_TEST

/* Every string field, label and time holding \u0000 is absent, never cut
 * short; a key holding one is accepted too (jansson refuses it even with
 * JSON_ALLOW_NUL), and a change of that name is left out. */
START_TEST(test_nul_everywhere)
{
	struct ld_event *ev = parse_str("{\"event\":\"conversation_updated\","
	    "\"id\":89,\"status\":\"open\\u0000x\",\"labels\":[\"vip\","
	    "\"a\\u0000\",\"b\"],\"created_at\":\"2026-01-21T04:04:56Z"
	    "\\u0000junk\",\"custom_attributes\":{\"k\\u0000\":1,"
	    "\"k\\\\u0000\":2,\"\\\"\\u0000\\\\\":3},"
	    "\"changed_attributes\":[{\"status\\u0000\":{\"previous_value\":"
	    "1}},{\"priority\":{\"previous_value\":null,\"current_value\":"
	    "\"\\u0000\"}}]}");

	ID_EQ(ev->conversation.id, CONV_ID);
	STR_ABSENT(ev->conversation.status);
	ck_assert_uint_eq(ev->conversation.n_labels, 2);
	ck_assert_str_eq(ev->conversation.labels[0], "vip");
	ck_assert_str_eq(ev->conversation.labels[1], "b");
	TIME_ABSENT(ev->conversation.created_at);
	ck_assert_uint_eq(ev->n_changes, 1);
	ck_assert_str_eq(ev->changes[0].name, "priority");
	/* A value kept as JSON keeps its NUL. */
	ck_assert_uint_eq(json_string_length(ev->changes[0].current), 1);
	ld_event_unref(ev);
}
END_TEST

/* The fixture holding \u0000 in a string and in a key: accepted, the rest
 * of the typed view as in message_created_incoming, the raw bytes kept. */
START_TEST(test_nul_in_string_fixture)
{
	struct ld_event *ev = parse_fixture("nul_in_string.json");

	ck_assert_int_eq(ev->kind, LD_EVENT_MESSAGE_CREATED);
	STR_ABSENT(ev->message.content);
	ID_EQ(ev->message.id, 2187690);
	ck_assert_int_eq(ev->message.message_type, LD_MESSAGE_TYPE_INCOMING);
	assert_vendor_contact(&ev->contact);
	assert_vendor_account(ev);
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
	ck_assert_ptr_nonnull(memmem(ev->raw, ev->raw_len,
	    "\"utm\\u0000source\"", 17));
	ld_event_unref(ev);
}
END_TEST

/* Integers beyond 64 bits, in fields the typed view does not read. */
START_TEST(test_big_integer_fixture)
{
	struct ld_event *ev = parse_fixture("big_integer.json");

	ck_assert_int_eq(ev->kind, LD_EVENT_MESSAGE_CREATED);
	STR_EQ(ev->message.content,
	    "สวัสดีค่ะ อยากสอบถามเรื่องคำสั่งซื้อ #1042 ค่ะ");
	ID_EQ(ev->message.id, 2187690);
	assert_vendor_contact(&ev->contact);
	ID_EQ(ev->conversation.unread_count, 1);
	ID_EQ(ld_event_conversation_id(ev), CONV_ID);
	ck_assert_ptr_nonnull(memmem(ev->raw, ev->raw_len,
	    "123456789012345678901234567890", 30));
	ck_assert_ptr_nonnull(memmem(ev->raw, ev->raw_len,
	    "-99999999999999999999", 21));
	ld_event_unref(ev);
}
END_TEST

/* Reals beyond a double (1e400), in custom attributes and in a change. */
START_TEST(test_huge_number_fixture)
{
	struct ld_event *ev = parse_fixture("huge_number.json");

	ck_assert_int_eq(ev->kind, LD_EVENT_CONVERSATION_UPDATED);
	ID_EQ(ev->conversation.id, CONV_ID);
	assert_vendor_contact(&ev->contact);
	ck_assert_uint_eq(ev->n_changes, 4);
	ck_assert_str_eq(ev->changes[0].name, "custom_attributes");
	ck_assert(json_is_object(ev->changes[0].current));
	ck_assert_ptr_nonnull(memmem(ev->raw, ev->raw_len,
	    "{\"score\": 1e400, \"risk\": -1E+400}", 33));
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_error_depth)
{
	static const char body[] =
	    "{\"event\":\"message_created\",\"a\":{\"b\":[{\"c\":[]}]}}";
	static const char in_strings[] =
	    "{\"event\":\"[[[[[[{{{{{{\",\"a\":\"]]]]{{{{\"}";
	char no_event[76];	/* {"a": 35 [ and 35 ], } */
	struct ld_event_error err;
	struct ld_event *ev;

	/* The top level is depth 1; the innermost [] is depth 5. */
	ev = ld_event_parse(body, sizeof body - 1, 5, &err);
	ck_assert_ptr_nonnull(ev);
	ld_event_unref(ev);
	ev = ld_event_parse(body, sizeof body - 1, 0, &err);
	ck_assert_ptr_nonnull(ev);
	ld_event_unref(ev);
	err = refuse(body, sizeof body - 1, 4);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.text, "JSON nests deeper than 4 levels");
	err = refuse(body, sizeof body - 1, 1);
	ck_assert_int_eq(err.status, 400);
	ev = ld_event_parse(in_strings, sizeof in_strings - 1, 1, &err);
	ck_assert_ptr_nonnull(ev);
	ld_event_unref(ev);
	/* Too deep is refused before a missing event is noticed. */
	memset(no_event, '[', sizeof no_event);
	memcpy(no_event, "{\"a\":", 5);
	memset(no_event + 40, ']', 35);
	no_event[75] = '}';
	err = refuse(no_event, sizeof no_event, DEPTH / 2);
	ck_assert_str_eq(err.text, "JSON nests deeper than 32 levels");
	err = refuse(no_event, sizeof no_event, 0);
	ck_assert_int_eq(err.status, 422);
}
END_TEST

/* {"event":"x","a": OPEN*n CLOSE*n } */
static char *
deep_body(size_t n, char open, char close, size_t *len)
{
	static const char head[] = "{\"event\":\"message_created\",\"a\":";
	size_t h = sizeof head - 1, step = open == '{' ? 5 : 1, i;
	char *b = malloc(h + n * (step + 1) + 2), *p;

	ck_assert_ptr_nonnull(b);
	memcpy(b, head, h);
	p = b + h;
	for (i = 0; i < n; i++) {
		if (open == '{') {
			memcpy(p, "{\"a\":", 5);
			p += 5;
		} else
			*p++ = open;
	}
	if (open == '{')
		*p++ = '1';
	for (i = 0; i < n; i++)
		*p++ = close;
	*p++ = '}';
	*len = (size_t)(p - b);
	return b;
}

START_TEST(test_error_very_deep)
{
	struct ld_event_error err;
	struct ld_event *ev;
	size_t len;
	char *b;

	b = deep_body(100000, '[', ']', &len);
	err = refuse(b, len, 0);
	ck_assert_int_eq(err.status, 400);
	err = refuse(b, len, DEPTH);
	ck_assert_int_eq(err.status, 400);
	free(b);
	b = deep_body(100000, '{', '}', &len);
	err = refuse(b, len, DEPTH);
	ck_assert_int_eq(err.status, 400);
	free(b);
	/* Under jansson's own limit, only ours applies. */
	b = deep_body(1000, '[', ']', &len);
	err = refuse(b, len, DEPTH);
	ck_assert_str_eq(err.text, "JSON nests deeper than 64 levels");
	ev = ld_event_parse(b, len, 0, &err);
	ck_assert_ptr_nonnull(ev);
	ld_event_unref(ev);
	free(b);
}
END_TEST

/* Numbers beyond a double or int64_t are valid JSON: accepted, and a
 * typed field holding one is absent. What is not a JSON number is still
 * refused, with its line and column. */
START_TEST(test_error_numbers)
{
	static const char *const valid[] = {
		"1e400", "-1e400", "9223372036854775808",
		"-9223372036854775809", "2e308", "-2e308", "1E+309",
		"123456789012345678901234567890.5e300",
		"100000000000000000000000000000000000000000",
	};
	static const char *const invalid[] = {
		"NaN", "Infinity", "-Infinity", "0x10", "012", "1.", ".5",
		"1e", "+1", "--1", "1e400e5", "- 1",
	};
	struct ld_event_error err;
	struct ld_event *ev;
	char body[512];
	size_t i;

	for (i = 0; i < sizeof valid / sizeof valid[0]; i++) {
		snprintf(body, sizeof body, "{\"event\":\"message_created\","
		    "\"id\":%s,\"created_at\":%s,\"private\":true,"
		    "\"conversation\":{\"id\":89,\"unread_count\":%s}}",
		    valid[i], valid[i], valid[i]);
		ev = ld_event_parse(body, strlen(body), DEPTH, &err);
		ck_assert_msg(ev != NULL, "%s: %d %s", valid[i], err.status,
		    err.text);
		ID_ABSENT(ev->message.id);
		TIME_ABSENT(ev->message.created_at);
		ID_ABSENT(ev->conversation.unread_count);
		BOOL_EQ(ev->message.is_private, true);
		ID_EQ(ld_event_conversation_id(ev), CONV_ID);
		/* The raw bytes are the ones received. */
		ck_assert_str_eq(ev->raw, body);
		ld_event_unref(ev);
	}
	for (i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
		snprintf(body, sizeof body, "{\"event\":\"message_created\","
		    "\"id\":%s}", invalid[i]);
		err = refuse_str(body);
		ck_assert_msg(err.status == 400, "%s: %d", invalid[i],
		    err.status);
		ck_assert_msg(strstr(err.text, "line 1, column ") != NULL,
		    "%s: %s", invalid[i], err.text);
	}
}
END_TEST

/* A number jansson cannot hold where no value may start is not mended:
 * the body is refused with jansson's own complaint and place, as is an
 * error that follows a mended number, at its place in the original. */
START_TEST(test_error_after_mend)
{
	static const char *const bodies[] = {
		"{\"event\":\"x\",\"a\":[true1e400]}",
		"{\"event\":\"x\",\"a\":[1e5-1e400]}",
		"{\"event\":\"x\",\"a\":[\"s\"1e400]}",
		"{1e400:1}",
		"[1e400",
	};
	struct ld_event_error err;
	size_t i;

	for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		err = refuse_str(bodies[i]);
		ck_assert_msg(err.status == 400, "%s: %d", bodies[i],
		    err.status);
		ck_assert_msg(strstr(err.text, "line 1, column ") != NULL,
		    "%s: %s", bodies[i], err.text);
	}
	err = refuse_str("{\"event\":\"x\",\"a\":[true1e400]}");
	ck_assert_str_eq(err.text, "invalid JSON at line 1, column 27: "
	    "real number overflow near '1e400'");
	err = refuse_str("{\"event\":\"x\",\n\"a\":1e400,\n\"b\": 1e400 x}");
	ck_assert_str_eq(err.text, "invalid JSON at line 3, column 12: "
	    "'}' expected near 'x'");
	/* A key that held \u0000 and now equals another is a duplicate. */
	err = refuse_str("{\"event\":\"x\",\"k\\u0000\":1,\"k\\uFFFF\":2}");
	ck_assert_int_eq(err.status, 400);
	ck_assert_msg(strstr(err.text, "duplicate") != NULL, "%s", err.text);
}
END_TEST

/* Each mend costs a parse: 16 numbers and keys are mended, the 17th is
 * refused, saying why. */
START_TEST(test_mend_bound)
{
	char body[1024], *p;
	struct ld_event_error err;
	struct ld_event *ev;
	int i;

	p = body + sprintf(body, "{\"event\":\"x\"");
	for (i = 0; i < 16; i++)
		p += sprintf(p, ",\"k%d%s\":%s", i, i % 2 ? "\\u0000" : "",
		    i % 2 ? "\"\\u0000\"" : "-1e400");
	strcpy(p, "}");
	ev = ld_event_parse(body, strlen(body), DEPTH, &err);
	ck_assert_msg(ev != NULL, "%d %s", err.status, err.text);
	ld_event_unref(ev);
	strcpy(p, ",\n\"z\":1e400}");
	err = refuse_str(body);
	ck_assert_int_eq(err.status, 400);
	ck_assert_msg(strstr(err.text, "more than 16") != NULL &&
	    strstr(err.text, "line 2, column 9") != NULL, "%s", err.text);
}
END_TEST

START_TEST(test_error_empty)
{
	struct ld_event_error err;

	err = refuse("", 0, DEPTH);
	ck_assert_int_eq(err.status, 400);
	err = refuse(NULL, 0, DEPTH);
	ck_assert_int_eq(err.status, 400);
	err = refuse(" \r\n\t", 4, DEPTH);
	ck_assert_int_eq(err.status, 400);
	/* No err to fill is allowed. */
	ck_assert_ptr_null(ld_event_parse("x", 1, 0, NULL));
	ck_assert_ptr_null(ld_event_parse("{}", 2, 0, NULL));
}
END_TEST

/* The body need not be NUL-terminated: only len bytes are read and kept. */
START_TEST(test_body_length)
{
	static const char body[] = "{\"event\":\"message_created\"}garbage";
	struct ld_event *ev;
	struct ld_event_error err;

	ev = ld_event_parse(body, 27, 0, &err);
	ck_assert_ptr_nonnull(ev);
	ck_assert_uint_eq(ev->raw_len, 27);
	ck_assert_str_eq(ev->raw, "{\"event\":\"message_created\"}");
	ld_event_unref(ev);
}
END_TEST

/* jansson's allocations fail one by one: each failure is a 500, never a
 * 400 blaming the sender, and nothing leaks (ASan, valgrind). */
static long fail_countdown;

static void *
failing_malloc(size_t n)
{
	if (fail_countdown-- == 0) {
		errno = ENOMEM;		/* as malloc(3) does */
		return NULL;
	}
	return malloc(n);
}

START_TEST(test_out_of_memory)
{
	struct ld_event_error err;
	struct ld_event *ev = NULL;
	size_t len;
	char *body = tu_fixture("message_created.json", &len);
	long n;

	for (n = 0; ev == NULL; n++) {
		fail_countdown = n;
		json_set_alloc_funcs(failing_malloc, free);
		ev = ld_event_parse(body, len, DEPTH, &err);
		json_set_alloc_funcs(malloc, free);
		if (ev == NULL)
			ck_assert_msg(err.status == 500, "failure %ld: %d %s",
			    n, err.status, err.text);
		ck_assert_int_lt(n, 100000);
	}
	ck_assert_int_gt(n, 10);
	assert_vendor_message_created(ev);
	ld_event_unref(ev);
	free(body);
}
END_TEST

/* The changes of an event parsed on one thread, checked and freed on
 * another after other parses have reused the first thread's arena. */
static void
assert_mixed_changes(const struct ld_event *ev)
{
	const struct ld_change *ch = ev->changes;

	ck_assert_uint_eq(ev->n_changes, 5);
	assert_change(&ch[0], "status", "open", "resolved");
	assert_change(&ch[1], "priority", NULL, "high");
	ck_assert(json_is_null(ch[1].previous));
	ck_assert_int_eq(json_integer_value(ch[2].previous), 3);
	ck_assert_int_eq(json_integer_value(ch[3].current), AGENT_ID);
}

/* jansson allocates through the parser's functions once it has parsed:
 * the per-thread arena (before it, malloc and free for every node). */
START_TEST(test_arena_installed)
{
	json_malloc_t m;
	json_free_t f;
	struct ld_event *ev = parse_fixture("message_created.json");
	json_t *v;

	json_get_alloc_funcs(&m, &f);
	ck_assert_msg(m != malloc && f != free,
	    "jansson allocates with malloc: no arena");
	/* Outside a parse the functions are malloc's: a tree made here
	 * outlives the next parses. */
	v = json_pack("{s:s}", "k", "outside");
	ck_assert_ptr_nonnull(v);
	ld_event_unref(ev);
	ev = parse_fixture("changed_attributes_mixed.json");
	ck_assert_str_eq(json_string_value(json_object_get(v, "k")),
	    "outside");
	json_decref(v);
	ld_event_unref(ev);
}
END_TEST

/* The values an event keeps from changed_attributes are its own, not the
 * arena's, which the next parse on the thread overwrites. */
START_TEST(test_arena_changes_kept)
{
	struct ld_event *ev = parse_fixture("changed_attributes_mixed.json");
	struct ld_event *other;
	int i;

	for (i = 0; i < 3; i++) {
		other = parse_fixture("message_created.json");
		ld_event_unref(other);
	}
	assert_mixed_changes(ev);
	ld_event_unref(ev);
}
END_TEST

/* ld_event_json_load's tree is the caller's (codec_archive keeps it over
 * an ld_event_parse): no parse on the thread may drop it. */
START_TEST(test_arena_json_load_kept)
{
	struct ld_event_error err;
	static const char line[] = "{\"payload\":{\"event\":\"x\"},"
	    "\"delivery_id\":\"d-1\"}";
	struct ld_event *ev;
	json_t *o = ld_event_json_load(line, sizeof line - 1, &err);

	ck_assert_ptr_nonnull(o);
	ev = parse_fixture("message_created.json");
	ld_event_unref(ev);
	ev = parse_fixture("changed_attributes_mixed.json");
	ck_assert_str_eq(json_string_value(json_object_get(o, "delivery_id")),
	    "d-1");
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_object_get(o, "payload"), "event")), "x");
	json_decref(o);
	ld_event_unref(ev);
}
END_TEST

/* A body whose tree outgrows the arena (5000 empty objects in 15 KB) and
 * one too long for it: parsed alike, the nodes from malloc freed. */
START_TEST(test_arena_full)
{
	struct ld_event_error err;
	struct ld_event *ev;
	size_t n = 0, cap = 64 * 1024, i;
	char *b = malloc(cap);

	ck_assert_ptr_nonnull(b);
	n += (size_t)snprintf(b, cap, "{\"event\":\"message_created\","
	    "\"id\":7,\"x\":[");
	for (i = 0; i < 5000; i++)
		n += (size_t)snprintf(b + n, cap - n, "%s{}", i ? "," : "");
	b[n++] = ']';
	b[n] = '}';
	ev = ld_event_parse(b, n + 1, DEPTH, &err);
	ck_assert_msg(ev != NULL, "%d %s", err.status, err.text);
	ID_EQ(ev->message.id, 7);
	ld_event_unref(ev);
	/* Now a 40 KB content: past the arena's bound on bodies. */
	n += (size_t)snprintf(b + n, cap - n, ",\"content\":\"");
	for (i = 0; i < 40000; i++)
		b[n++] = 'a' + (char)(i % 26);
	n += (size_t)snprintf(b + n, cap - n, "\"}");
	ck_assert_uint_lt(n, cap);
	ev = ld_event_parse(b, n, DEPTH, &err);
	ck_assert_msg(ev != NULL, "%d %s", err.status, err.text);
	ID_EQ(ev->message.id, 7);
	ck_assert_uint_eq(strlen(ev->message.content), 40000);
	ck_assert_int_eq(ev->message.content[39999], 'a' + 39999 % 26);
	ld_event_unref(ev);
	/* And a small one again, from the arena. */
	ev = parse_fixture("changed_attributes_mixed.json");
	assert_mixed_changes(ev);
	ld_event_unref(ev);
	free(b);
}
END_TEST

#define ARENA_THREADS	4
#define ARENA_EVENTS	200

/* Parses ARENA_EVENTS events on its own thread (its own arena) and
 * leaves them to the main thread, as an HTTP thread leaves them to a
 * worker; the thread's arena goes when it exits. */
static void *
parse_many(void *arg)
{
	struct ld_event **evs = arg;
	struct ld_event_error err;
	size_t len;
	char *body = tu_fixture("changed_attributes_mixed.json", &len);
	int i;

	for (i = 0; i < ARENA_EVENTS; i++)
		evs[i] = ld_event_parse(body, len, DEPTH, &err);
	free(body);
	return NULL;
}

START_TEST(test_arena_threads)
{
	static struct ld_event *evs[ARENA_THREADS][ARENA_EVENTS];
	pthread_t t[ARENA_THREADS];
	int i, j;

	for (i = 0; i < ARENA_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, parse_many,
		    evs[i]), 0);
	for (i = 0; i < ARENA_THREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	for (i = 0; i < ARENA_THREADS; i++)
		for (j = 0; j < ARENA_EVENTS; j++) {
			ck_assert_ptr_nonnull(evs[i][j]);
			assert_mixed_changes(evs[i][j]);
			ld_event_unref(evs[i][j]);
		}
}
END_TEST

/* Running out of memory while copying the changes' values is a 500, and
 * leaves nothing behind (ASan and valgrind watch). jansson itself drops
 * an object member it has no memory for in places, so an event may come
 * back before every allocation has been made to fail: the loop ends when
 * none did. */
START_TEST(test_out_of_memory_changes)
{
	struct ld_event_error err;
	struct ld_event *ev = NULL;
	size_t len;
	char *body = tu_fixture("changed_attributes_mixed.json", &len);
	long n;

	for (n = 0;; n++) {
		fail_countdown = n;
		json_set_alloc_funcs(failing_malloc, free);
		ev = ld_event_parse(body, len, DEPTH, &err);
		json_set_alloc_funcs(malloc, free);
		if (ev == NULL)
			ck_assert_msg(err.status == 500, "failure %ld: %d %s",
			    n, err.status, err.text);
		else if (fail_countdown >= 0)
			break;
		ld_event_unref(ev);
		ck_assert_int_lt(n, 100000);
	}
	ck_assert_int_gt(n, 10);
	assert_mixed_changes(ev);
	ld_event_unref(ev);
	free(body);
}
END_TEST

START_TEST(test_refcount)
{
	struct ld_event *ev = parse_fixture("message_created.json");

	ck_assert_ptr_eq(ld_event_ref(ev), ev);
	ck_assert_int_eq(ev->refs, 2);
	ld_event_unref(ev);
	ck_assert_int_eq(ev->refs, 1);
	ID_EQ(ev->message.id, 2187685);		/* still alive */
	ld_event_unref(ev);			/* freed: ASan/valgrind watch */
	ld_event_unref(NULL);
	ck_assert_ptr_null(ld_event_ref(NULL));
}
END_TEST

static void *
ref_unref_many(void *arg)
{
	struct ld_event *ev = arg;
	int i;

	for (i = 0; i < 100000; i++)
		ld_event_unref(ld_event_ref(ev));
	return NULL;
}

START_TEST(test_refcount_threads)
{
	struct ld_event *ev = parse_fixture("message_created.json");
	pthread_t t[4];
	int i;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, ref_unref_many,
		    ld_event_ref(ev)), 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ld_event_unref(ev);
	}
	ck_assert_int_eq(ev->refs, 1);
	ld_event_unref(ev);
}
END_TEST

START_TEST(test_time_format)
{
	static const int64_t samples[] = {
		0, 1000, 1768968296544000LL, 1768966009012000LL,
		951825600000000LL, -500000, 1798761599999000LL,
	};
	char buf[32], small[10];
	size_t i;

	ld_time_format(1768968296544000LL, buf, sizeof buf);
	ck_assert_str_eq(buf, "2026-01-21T04:04:56.544Z");
	ld_time_format(0, buf, sizeof buf);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
	ld_time_format(-500000, buf, sizeof buf);
	ck_assert_str_eq(buf, "1969-12-31T23:59:59.500Z");
	/* Milliseconds are truncated, not rounded. */
	ld_time_format(1768967324268219LL, buf, sizeof buf);
	ck_assert_str_eq(buf, "2026-01-21T03:48:44.268Z");
	ld_time_format(1768967324999999LL, buf, sizeof buf);
	ck_assert_str_eq(buf, "2026-01-21T03:48:44.999Z");
	/* Round trip through the parser. */
	for (i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		char quoted[40];
		struct ld_time t;

		ld_time_format(samples[i], buf, sizeof buf);
		snprintf(quoted, sizeof quoted, "\"%s\"", buf);
		t = time_of(quoted);
		ck_assert_msg(t.set && t.usec == samples[i], "%s", buf);
	}
	memset(small, 'x', sizeof small);
	ld_time_format(1768968296544000LL, small, sizeof small);
	ck_assert_ptr_nonnull(memchr(small, '\0', sizeof small));
}
END_TEST

START_TEST(test_names)
{
	static const struct { enum ld_event_kind k; const char *n; } kinds[] = {
		{ LD_EVENT_CONVERSATION_CREATED, "conversation_created" },
		{ LD_EVENT_CONVERSATION_UPDATED, "conversation_updated" },
		{ LD_EVENT_CONVERSATION_STATUS_CHANGED,
		    "conversation_status_changed" },
		{ LD_EVENT_MESSAGE_CREATED, "message_created" },
		{ LD_EVENT_MESSAGE_UPDATED, "message_updated" },
		{ LD_EVENT_UNKNOWN, "unknown" },
	};
	size_t i;
	int t;

	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		ck_assert_str_eq(ld_event_kind_name(kinds[i].k), kinds[i].n);
	ck_assert_str_eq(ld_event_kind_name((enum ld_event_kind)99), "unknown");
	for (t = LD_MESSAGE_TYPE_INCOMING; t <= LD_MESSAGE_TYPE_TEMPLATE; t++)
		ck_assert_int_eq(ld_message_type_from_name(
		    ld_message_type_name((enum ld_message_type)t)), t);
	ck_assert_str_eq(ld_message_type_name(LD_MESSAGE_TYPE_INCOMING),
	    "incoming");
	ck_assert_str_eq(ld_message_type_name(LD_MESSAGE_TYPE_TEMPLATE),
	    "template");
	ck_assert_ptr_null(ld_message_type_name(LD_MESSAGE_TYPE_NONE));
	ck_assert_ptr_null(ld_message_type_name((enum ld_message_type)4));
	ck_assert_int_eq(ld_message_type_from_name(NULL), LD_MESSAGE_TYPE_NONE);
	ck_assert_int_eq(ld_message_type_from_name(""), LD_MESSAGE_TYPE_NONE);
	ck_assert_int_eq(ld_message_type_from_name("incomingx"),
	    LD_MESSAGE_TYPE_NONE);
}
END_TEST

static Suite *
event_suite(void)
{
	Suite *s = suite_create("event");
	TCase *fx = tcase_create("fixtures");
	TCase *fields = tcase_create("fields");
	TCase *errors = tcase_create("errors");
	TCase *life = tcase_create("lifetime");
	TCase *arena = tcase_create("arena");

	tcase_add_test(fx, test_conversation_created);
	tcase_add_test(fx, test_message_created);
	tcase_add_test(fx, test_pretty);
	tcase_add_test(fx, test_vendor_conversation_updated);
	tcase_add_test(fx, test_vendor_conversation_status_changed);
	tcase_add_test(fx, test_vendor_message_updated);
	tcase_add_test(fx, test_conversation_updated_full);
	tcase_add_test(fx, test_conversation_status_changed_full);
	tcase_add_test(fx, test_message_updated_full);
	tcase_add_test(fx, test_message_created_incoming);
	tcase_add_test(fx, test_attachments);
	tcase_add_test(fx, test_nulls);
	tcase_add_test(fx, test_nulls_conversation);
	tcase_add_test(fx, test_minimal_message_created);
	tcase_add_test(fx, test_unknown_event);
	tcase_add_test(fx, test_typing_on);
	tcase_add_test(fx, test_typing_off);
	tcase_add_test(fx, test_webwidget_triggered);
	tcase_add_test(fx, test_contact_created);
	tcase_add_test(fx, test_contact_updated);
	tcase_add_test(fx, test_inbox_created);
	tcase_add_test(fx, test_inbox_updated);
	tcase_add_test(fx, test_message_updated_failed);
	tcase_add_test(fx, test_emoji);
	tcase_add_test(fx, test_wrong_types);
	tcase_add_test(fx, test_message_private);
	tcase_add_test(fx, test_in_reply_to);
	tcase_add_test(fx, test_changed_attributes_mixed);
	tcase_add_test(fx, test_nul_in_string_fixture);
	tcase_add_test(fx, test_big_integer_fixture);
	tcase_add_test(fx, test_huge_number_fixture);
	tcase_add_test(fx, test_every_fixture_truncated);
	/* Every fixture cut at every byte: over Check's 4 s under ASan while
	 * the other suites run beside it. */
	tcase_set_timeout(fx, 30);
	suite_add_tcase(s, fx);

	tcase_add_test(fields, test_unknown_event_nested_conversation);
	tcase_add_test(fields, test_unknown_event_conversation_shape);
	tcase_add_test(fields, test_automation_and_macro);
	tcase_add_test(fields, test_time_iso);
	tcase_add_test(fields, test_time_iso_refused);
	tcase_add_test(fields, test_time_numbers);
	tcase_add_test(fields, test_ids);
	tcase_add_test(fields, test_message_type_forms);
	tcase_add_test(fields, test_conversation_id_invalid);
	tcase_add_test(fields, test_contact_type_case);
	tcase_add_test(fields, test_time_format);
	tcase_add_test(fields, test_names);
	suite_add_tcase(s, fields);

	tcase_add_test(errors, test_error_not_json);
	tcase_add_test(errors, test_error_not_object);
	tcase_add_test(errors, test_error_no_event);
	tcase_add_test(errors, test_error_duplicate_keys);
	tcase_add_test(errors, test_error_bad_utf8);
	tcase_add_test(errors, test_error_nul);
	tcase_add_test(errors, test_nul_everywhere);
	tcase_add_test(errors, test_error_depth);
	tcase_add_test(errors, test_error_very_deep);
	tcase_add_test(errors, test_error_numbers);
	tcase_add_test(errors, test_error_after_mend);
	tcase_add_test(errors, test_mend_bound);
	tcase_add_test(errors, test_error_empty);
	tcase_add_test(errors, test_body_length);
	tcase_add_test(errors, test_out_of_memory);
	tcase_add_test(errors, test_out_of_memory_changes);
	suite_add_tcase(s, errors);

	tcase_add_test(arena, test_arena_installed);
	tcase_add_test(arena, test_arena_changes_kept);
	tcase_add_test(arena, test_arena_json_load_kept);
	tcase_add_test(arena, test_arena_full);
	tcase_add_test(arena, test_arena_threads);
	suite_add_tcase(s, arena);

	tcase_add_test(life, test_refcount);
	tcase_add_test(life, test_refcount_threads);
	/* Valgrind makes the 400,000 atomic round trips slow. */
	tcase_set_timeout(life, 60);
	suite_add_tcase(s, life);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(event_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

//! `GET /api/openapi.json`: the OpenAPI 3.1 document, built from the route table
//! ([`super::ROUTES`]) and the schemas below, so every route the router serves is in it.

use axum::Json;
use serde_json::{Map, Value, json};

use super::ROUTES;

/// The webhooks' schemas (a `json!` of its own: one would exceed the macro's recursion limit).
fn webhook_schemas() -> Value {
    json!({
        "WebhookType": {"type": "string", "enum": ["*", "session.status", "session.qr", "session.pairing_code", "message.received", "message.queued",
            "message.sent", "message.failed", "message.ack", "assignment.changed"]},
        "CreateWebhook": {
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "http:// (this build has no TLS)"},
                "events": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookType"}, "description": "default [\"*\"]"},
                "sessions": {"type": "array", "items": {"type": "string"}, "description": "session ids or \"*\" (the default)"},
                "secret": {"type": "string", "description": "whsec_ and the base64 of 24 to 64 bytes; generated when absent"}
            },
            "required": ["url"],
            "additionalProperties": false
        },
        "UpdateWebhook": {
            "type": "object",
            "properties": {
                "url": {"type": "string"},
                "events": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookType"}},
                "sessions": {"type": "array", "items": {"type": "string"}},
                "secret": {"type": "string"},
                "enabled": {"type": "boolean"}
            },
            "additionalProperties": false
        },
        "Webhook": {
            "type": "object",
            "properties": {
                "id": {"type": "string"}, "url": {"type": "string"},
                "events": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookType"}},
                "sessions": {"type": "array", "items": {"type": "string"}},
                "enabled": {"type": "boolean"}, "disabledReason": {"type": ["string", "null"]},
                "createdAt": {"type": "integer", "description": "Unix milliseconds"}
            },
            "required": ["id", "url", "events", "sessions", "enabled"]
        },
        "WebhookCreated": {"allOf": [
            {"$ref": "#/components/schemas/Webhook"},
            {"type": "object", "properties": {"secret": {"type": "string"}}, "required": ["secret"]}
        ]},
        "WebhookList": {
            "type": "object",
            "properties": {"webhooks": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}},
            "required": ["webhooks"]
        },
        "WebhookDeleted": {"type": "object", "properties": {"id": {"type": "string"}, "deleted": {"type": "boolean"}}},
        "Delivery": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "webhookMessageId": {"type": "string", "description": "the webhook-id header, the same on every attempt"},
                "eventId": {"type": "string", "description": "the event's id on /api/events"},
                "sessionId": {"type": "string"},
                "type": {"$ref": "#/components/schemas/WebhookType"},
                "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                "attempts": {"type": "integer"},
                "createdAt": {"type": "integer"}, "nextAttemptAt": {"type": ["integer", "null"]},
                "lastAttemptAt": {"type": ["integer", "null"]},
                "lastResponse": {"type": ["object", "null"], "properties": {
                    "status": {"type": "integer"}, "body": {"type": "string", "description": "its first 256 bytes"}
                }},
                "lastError": {"type": ["string", "null"]}, "finishedAt": {"type": ["integer", "null"]}
            },
            "required": ["id", "webhookMessageId", "eventId", "sessionId", "status", "attempts", "createdAt"]
        },
        "DeliveryList": {
            "type": "object",
            "properties": {
                "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}},
                "nextBefore": {"type": ["string", "null"]}
            },
            "required": ["deliveries", "nextBefore"]
        }
    })
}

/// The media messages' schemas.
fn media_schemas() -> Value {
    let common = json!({
        "phoneNumber": {"type": "string", "description": "8 to 15 digits with the country code; '+', spaces and dashes are ignored"},
        "caption": {"type": "string", "maxLength": 4096},
        "ttlSeconds": {"type": "integer", "minimum": 1, "description": "unsent after this long, it expires (default --message-ttl)"}
    });
    let mut json_properties = common.clone();
    json_properties["media"] = json!({
        "type": "object",
        "description": "The file: its bytes in base64, or an http:// URL that wamux fetches (not on loopback or private addresses unless --allow-private-media-urls; this build has no TLS, so an https URL is 422 media_unavailable). At most --max-media-size bytes (413 media_too_large). image/* is sent as a photo, video/* as a video, audio/* and anything else as a document.",
        "properties": {
            "mimetype": {"type": "string", "description": "type/subtype, such as image/jpeg or application/pdf"},
            "filename": {"type": "string", "description": "the name the recipient sees; made up from the type when absent (image.jpg, document.pdf, file.bin)"},
            "url": {"type": "string"},
            "base64": {"type": "string", "contentEncoding": "base64"}
        },
        "required": ["mimetype"],
        "oneOf": [{"required": ["url"]}, {"required": ["base64"]}]
    });
    let mut form_properties = common;
    form_properties["file"] = json!({"type": "string", "contentEncoding": "binary",
        "description": "the file; its part's Content-Type is its type (application/octet-stream when absent) and its filename the name the recipient sees"});
    form_properties["ttlSeconds"] =
        json!({"type": "string", "description": "a whole number of seconds"});
    json!({
        "SendMedia": {"type": "object", "properties": json_properties, "required": ["phoneNumber", "media"]},
        "SendMediaForm": {"type": "object", "properties": form_properties, "required": ["phoneNumber", "file"]}
    })
}

/// The JSON schemas named by the route table, and those their answers use.
fn schemas() -> Value {
    let session = json!({
        "type": "object",
        "properties": {
            "sessionId": {"type": "string"},
            "status": {"$ref": "#/components/schemas/Status"},
            "statusSince": {"type": "integer", "description": "Unix milliseconds"},
            "qrAvailable": {"type": "boolean"},
            "pairingCode": {"type": ["string", "null"]},
            "phoneNumber": {"type": ["string", "null"]},
            "lastError": {"type": ["string", "null"]},
            "restarts": {"type": "integer"},
            "createdAt": {"type": "integer", "description": "Unix milliseconds"},
            "workerPid": {"type": ["integer", "null"]},
            "chromedriverPid": {"type": ["integer", "null"]},
            "browserPid": {"type": ["integer", "null"]},
            "memoryBytes": {"type": ["integer", "null"]},
            "proxy": {"type": ["string", "null"], "description": "the upstream proxy, its password shown as ***"},
            "engine": {"oneOf": [{"$ref": "#/components/schemas/Engine"}, {"type": "null"}],
                "description": "which path each capability of the running worker uses; null until the worker tells"}
        },
        "required": ["sessionId", "status", "qrAvailable", "phoneNumber"]
    });
    let path = json!({"type": "string", "enum": ["modules", "dom"]});
    let mut schemas = json!({
        "Status": {"type": "string", "enum": ["STARTING", "SCAN_QR_CODE", "WORKING", "STOPPED", "FAILED"]},
        "Error": {
            "type": "object",
            "properties": {"error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"]
            }},
            "required": ["error"]
        },
        "CreateSession": {
            "type": ["object", "null"],
            "properties": {
                "sessionId": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "proxy": {
                    "type": "string",
                    "description": "all the session's traffic goes through this proxy: http://[user:password@]host:port or socks5://[user:password@]host:port"
                }
            },
            "additionalProperties": false
        },
        "Created": {
            "type": "object",
            "properties": {
                "sessionId": {"type": "string"}, "qrUrl": {"type": "string"}, "statusUrl": {"type": "string"}
            },
            "required": ["sessionId", "qrUrl", "statusUrl"]
        },
        "SendMessage": {
            "type": "object",
            "properties": {
                "phoneNumber": {"type": "string", "description": "8 to 15 digits with the country code; '+', spaces and dashes are ignored"},
                "message": {"type": "string", "minLength": 1, "maxLength": 4096},
                "ttlSeconds": {"type": "integer", "minimum": 1, "description": "unsent after this long, it expires (default --message-ttl)"}
            },
            "required": ["phoneNumber", "message"]
        },
        "Sent": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "messageId": {"type": "string"}, "status": {"$ref": "#/components/schemas/MessageStatus"}},
            "required": ["id", "messageId", "status"]
        },
        "Queued": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "messageId": {"type": "null"}, "status": {"$ref": "#/components/schemas/MessageStatus"}},
            "required": ["id", "status"]
        },
        "MessageStatus": {"type": "string", "enum": ["queued", "sending", "sent", "delivered", "read", "failed", "expired", "received"]},
        "Engine": {
            "description": "How each capability reads or drives WhatsApp Web: through the page's own modules, or through its DOM when the modules for it are missing (WhatsApp changed them). Through the DOM, reading an incoming message opens its chat, which marks it read on the phone.",
            "type": "object",
            "properties": {
                "state": {"description": "the session's state: QR, linked, conflict, own number", "allOf": [path]},
                "incoming": {"description": "reading incoming messages", "allOf": [path]},
                "acks": {"description": "the delivered and read acknowledgements of sent messages", "allOf": [path]},
                "send": {"description": "sending", "allOf": [path]}
            },
            "required": ["state", "incoming", "acks", "send"]
        },
        "Message": {
            "description": "An outgoing message (direction out: to, error, expiresAt, attempts) or an incoming one (direction in, status received: chatId, from, fromName, author, shownAt, receivedAt). Times are Unix milliseconds.",
            "type": "object",
            "properties": {
                "id": {"type": "string"}, "messageId": {"type": ["string", "null"]},
                "direction": {"type": "string", "enum": ["out", "in"]}, "to": {"type": "string"},
                "type": {"type": "string", "description": "WhatsApp's type: chat (a text, and every outgoing message), image, video, ptt, audio, document, sticker, location, vcard, ..."},
                "text": {"type": "string"}, "status": {"$ref": "#/components/schemas/MessageStatus"},
                "error": {"type": ["object", "null"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
                "createdAt": {"type": "integer"},
                "sentAt": {"type": ["integer", "null"], "description": "outgoing: when WhatsApp showed it sent; incoming: when its sender sent it, as WhatsApp tells (null when read through the DOM)"},
                "expiresAt": {"type": "integer"}, "attempts": {"type": "integer"},
                "chatId": {"type": "string", "description": "the chat: DIGITS@c.us, ID@g.us or ID@lid"},
                "from": {"type": ["string", "null"], "description": "the sender's number, when the chat or the page tells it"},
                "fromName": {"type": ["string", "null"], "description": "the sender's name, as WhatsApp gives it (notifyName) or as the page shows it"},
                "author": {"type": ["string", "null"], "description": "in a group, who sent it: DIGITS@c.us or ID@lid; null otherwise"},
                "shownAt": {"type": ["string", "null"], "description": "the time as the page's DOM shows it, HH:MM, D/M/YYYY; null when read through the page's modules"},
                "receivedAt": {"type": "integer", "description": "when wamux stored it"},
                "caption": {"type": "string", "description": "a media message's caption (its text); media messages only, as the fields below"},
                "mimetype": {"type": ["string", "null"]},
                "filename": {"type": ["string", "null"]},
                "size": {"type": ["integer", "null"], "description": "bytes"},
                "mediaUrl": {"type": ["string", "null"], "description": "GET it for the file (/api/sessions/{id}/messages/{id}/media); null when its bytes are not kept"},
                "mediaMissing": {"type": ["string", "null"], "description": "why a received file's bytes are not kept (larger than --max-media-size, or the page would not give them)"}
            },
            "required": ["id", "direction", "type", "text", "status", "createdAt"]
        },
        "MessageList": {
            "type": "object",
            "properties": {
                "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                "nextBefore": {"type": ["string", "null"]}
            },
            "required": ["messages", "nextBefore"]
        },
        "Session": session,
        "SessionList": {
            "type": "object",
            "properties": {
                "sessions": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}},
                "stats": {"type": "object"}
            },
            "required": ["sessions", "stats"]
        },
        "NodeList": {
            "type": "object",
            "properties": {"nodes": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"}, "advertiseUrl": {"type": ["string", "null"]},
                    "sessions": {"type": "array", "items": {"type": "string"}},
                    "capacity": {"type": "integer"}, "lastHeartbeat": {"type": "integer"},
                    "alive": {"type": "boolean"}, "draining": {"type": "boolean"}
                },
                "required": ["id", "sessions", "capacity", "lastHeartbeat", "alive", "draining"]
            }}},
            "required": ["nodes"]
        },
        "Draining": {
            "type": "object",
            "properties": {"node": {"type": "string"}, "draining": {"type": "boolean"}},
            "required": ["node", "draining"]
        },
        "Qr": {
            "type": "object",
            "properties": {"qr": {"type": "string"}, "png": {"type": "string", "contentEncoding": "base64"}},
            "required": ["qr"]
        },
        "Deleted": {"type": "object", "properties": {"sessionId": {"type": "string"}, "deleted": {"type": "boolean"}}},
        "Restored": {"type": "object", "properties": {"started": {"type": "array", "items": {"type": "string"}}}},
        "Stats": {"type": "object", "properties": {
            "sessions": {"type": "object"}, "memory": {"type": "object"}, "restarts": {"type": "integer"},
            "messages": {"type": "object"}, "uptimeSeconds": {"type": "integer"},
            "warmSpares": {"type": "object", "description": "Browsers waiting with a QR on show for new sessions to take (--warm-spares)", "properties": {
                "wanted": {"type": "integer"}, "ready": {"type": "integer"}
            }}
        }},
        "Event": {"type": "object", "description": "Each type has its own fields besides these. messageReceived: messageId, chatId, sender (the DOM's [HH:MM, D/M/YYYY] Name: , empty when read through the modules), name, author (a group's sender, or null), messageType (WhatsApp's type, as a message's type), timestamp (when sent, Unix seconds, or null), text, and for a media message caption, mimetype, filename, mediaUrl (null when the bytes are not kept) and mediaMissing (why not); null for a text.", "properties": {
            "type": {"type": "string", "enum": ["created", "deleted", "status", "qr", "pairingCode", "ready", "messageQueued", "messageSent", "messageFailed", "messageAck", "messageReceived", "assignment"]},
            "sessionId": {"type": "string"}, "at": {"type": "integer"}
        }, "required": ["type", "sessionId", "at"]},
        "PairingCodeRequest": {
            "type": "object",
            "properties": {
                "phoneNumber": {"type": "string", "description": "the phone's own number: 8 to 15 digits with the country code; '+', spaces and dashes are ignored"}
            },
            "required": ["phoneNumber"]
        },
        "PairingCode": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "ABCD-EFGH, to type on the phone (Linked devices, Link with phone number)"},
                "expiresAt": {"type": "integer", "description": "when it stops working, ms since the epoch; a new code replaces it while the session waits (session.pairing_code)"}
            },
            "required": ["code", "expiresAt"]
        },
        "AssignNumber": {
            "type": "object",
            "properties": {
                "sessionId": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "type": {"type": "string", "enum": ["sells", "coordination"]}
            },
            "required": ["sessionId", "type"]
        },
        "Assignment": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["sells", "coordination"]},
                "sessionId": {"type": "string"},
                "phoneNumber": {"type": ["string", "null"]},
                "status": {"$ref": "#/components/schemas/Status"},
                "url": {"type": "string", "description": "the session's send-message URL, as written in the .env"},
                "envUpdated": {"type": "boolean"}
            },
            "required": ["type", "sessionId", "url"]
        },
        "Assignments": {
            "type": "object",
            "properties": {
                "sells": {"oneOf": [{"$ref": "#/components/schemas/Assignment"}, {"type": "null"}]},
                "coordination": {"oneOf": [{"$ref": "#/components/schemas/Assignment"}, {"type": "null"}]}
            },
            "required": ["sells", "coordination"]
        },
        "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
        "Ready": {"type": "object", "properties": {"status": {"type": "string"}}}
    });
    for more in [webhook_schemas(), media_schemas()] {
        if let (Some(all), Value::Object(more)) = (schemas.as_object_mut(), more) {
            all.extend(more);
        }
    }
    schemas
}

fn response(status: u16, description: &str) -> Value {
    if status >= 400 {
        return json!({
            "description": format!("error codes: {description}"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        });
    }
    let schema_name = description.split_whitespace().last().unwrap_or_default();
    let content = match description {
        // "text/javascript or text/css": one content type each.
        d if d.starts_with("text/") => d
            .split(" or ")
            .map(|t| {
                let media_type = t.split(' ').next().unwrap_or(t).to_owned();
                (media_type, json!({"schema": {"type": "string"}}))
            })
            .collect::<Map<_, _>>()
            .into(),
        "image/png or Qr" => json!({
            "image/png": {"schema": {"type": "string", "contentEncoding": "binary"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/Qr"}}
        }),
        "OpenAPI 3.1" => json!({"application/json": {"schema": {"type": "object"}}}),
        "the file" => json!({"*/*": {"schema": {"type": "string", "contentEncoding": "binary"}}}),
        "Status" => {
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/Session"}}})
        }
        _ => {
            json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema_name}")}}})
        }
    };
    json!({"description": description, "content": content})
}

/// The whole document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let mut operation = json!({
            "summary": route.summary,
            "operationId": format!("{}{}", route.method, route.path.replace(['/', '{', '}', '-', '.'], "_")),
            "responses": route.responses.iter()
                .map(|(status, description)| (status.to_string(), response(*status, description)))
                .collect::<Map<_, _>>(),
        });
        if route.path.contains("{id}") {
            operation["parameters"] = json!([{
                "name": "id", "in": "path", "required": true,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
            }]);
        }
        if route.path.contains("{messageId}") {
            operation["parameters"]
                .as_array_mut()
                .expect("an {id} route")
                .push(json!({
                    "name": "messageId", "in": "path", "required": true,
                    "description": "wamux's id of the message, or WhatsApp's",
                    "schema": {"type": "string"}
                }));
        }
        if route.path.contains("{webhookId}") {
            operation["parameters"] = json!([{
                "name": "webhookId", "in": "path", "required": true, "schema": {"type": "string"}
            }]);
        }
        if route.path.contains("{deliveryId}") {
            operation["parameters"]
                .as_array_mut()
                .expect("a {webhookId} route")
                .push(json!({
                    "name": "deliveryId", "in": "path", "required": true, "schema": {"type": "string"}
                }));
        }
        if route.path.contains("{name}") {
            operation["parameters"] = json!([{
                "name": "name", "in": "path", "required": true, "schema": {"type": "string"}
            }]);
        }
        if let Some(body) = route.body {
            operation["requestBody"] = json!({
                "required": body != "CreateSession",
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}
            });
            if body == "SendMedia" {
                operation["requestBody"]["content"]["multipart/form-data"] =
                    json!({"schema": {"$ref": "#/components/schemas/SendMediaForm"}});
            }
        }
        // The doors in front of every route (`doors.rs`, `body.rs`).
        operation["responses"]["421"] = response(421, "misdirected_request");
        if route.method != "get" {
            operation["responses"]["403"] = response(403, "cross_origin");
        }
        if route.body.is_some() {
            operation["responses"]["415"] = response(415, "unsupported_media_type");
        }
        if route.guarded {
            operation["security"] = json!([{"apiKey": []}, {"bearer": []}]);
            operation["responses"]["401"] = response(401, "unauthorized");
        } else {
            operation["security"] = json!([]);
        }
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "wamux",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Many WhatsApp Web sessions behind one HTTP API. Every error is {\"error\": {\"code\", \"message\"}}."
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "bearer": {"type": "http", "scheme": "bearer"}
            }
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_the_document_names_exists() {
        let doc = build();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for name in text.split("#/components/schemas/").skip(1) {
            let name: String = name
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
        for route in ROUTES {
            assert!(
                doc["paths"][route.path][route.method].is_object(),
                "{} {}",
                route.method,
                route.path
            );
        }
    }
}

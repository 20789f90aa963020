"""OpenAPI description of the API-key scheme (imported by the views so drf-spectacular registers it)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "shop.api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        # X-Api-Key is what Swagger UI's "Authorize" box sends; `Authorization: Api-Key <key>` works too.
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Api-Key",
            "description": "The client's API key. `Authorization: Api-Key <key>` is accepted as well.",
        }


# --- Postprocessing: the schema says what every operation can answer ----------------------------------

REFUSALS = {
    "401": "No API key, or an unknown or deactivated one.",
    "403": "The key lacks this operation's scope (named in `detail`), or a non-staff session.",
    "429": "Over this client's rate; retry after the Retry-After header's seconds.",
}
BAD_REQUEST = "Invalid parameters or body: an object of field errors."
NOT_FOUND = "No such record."
ERROR_BODY = {"type": "object", "additionalProperties": True}


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR_BODY}}}


def _allow_blank_email(prop: dict) -> None:
    # Model email fields are blank=True: an answer may hold "" where the schema said format "email".
    if prop.get("format") == "email":
        prop.pop("format")
        prop["anyOf"] = [{"format": "email"}, {"maxLength": 0}]


def document_api_answers(result, generator, request, public):
    """drf-spectacular postprocessing hook: every /api/v1/ operation may be refused (401, 403, 429, from the
    one key, scope and throttle path), one with query parameters or a body may be a 400, a GET by path key a
    404; and a blank email is an allowed answer. Added where a view did not document them itself."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, description in REFUSALS.items():
                responses.setdefault(code, _error_response(description))
            params = operation.get("parameters", [])
            if any(p.get("in") == "query" for p in params) or "requestBody" in operation:
                responses.setdefault("400", _error_response(BAD_REQUEST))
            if method == "get" and any(p.get("in") == "path" for p in params):
                responses.setdefault("404", _error_response(NOT_FOUND))
            for code, response in responses.items():
                if response is None or (code.startswith("4") and not response.get("content")):
                    responses[code] = _error_response((response or {}).get("description") or "Refused.")
    for component in result.get("components", {}).get("schemas", {}).values():
        for prop in component.get("properties", {}).values():
            _allow_blank_email(prop)
    return result

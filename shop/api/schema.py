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

// A real OpenID provider on loopback for console_oidc_e2e.rs: panva's oidc-provider (an
// OpenID-certified implementation) with its development sign-in pages, one confidential
// client (authorization code, PKCE S256 required), and accounts whose login name says
// their role: "<role>.<name>" signs in as that role of tenant st-marys; "patient.<id>"
// is a patient bound to <id>. Synthetic only; never expose it beyond 127.0.0.1.
// Environment: OIDC_PORT, CLIENT_SECRET, REDIRECT_URI. Prints "listening" when ready.
import Provider from "oidc-provider";

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: "recall-console",
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    response_types: ["code"],
    grant_types: ["authorization_code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  claims: { openid: ["sub", "tenant", "role", "patient"] },
  // The claims go into the ID token itself (recall reads no userinfo endpoint).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["synthetic-test-only-cookie-key-0123456789"] },
  async findAccount(ctx, sub) {
    const [role, rest] = sub.split(".", 2);
    return {
      accountId: sub,
      async claims() {
        const c = { sub, tenant: "st-marys", role };
        if (role === "patient") c.patient = rest;
        return c;
      },
    };
  },
});
// Development signing keys (RS256) are generated at start.
provider.listen(port, "127.0.0.1", () => console.log("listening"));

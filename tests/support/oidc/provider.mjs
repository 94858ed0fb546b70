// An OpenID Provider for the sign-in tests, on this machine only: panva's oidc-provider
// (OpenID Certified), with its own development login pages. Any login name is accepted
// (the password is not checked); the account's e-mail is <login>@<EMAIL_DOMAIN>.
//
//   node provider.mjs   with PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, EMAIL_DOMAIN set
//
// Prints "ready <issuer>" once it listens. Never use this outside tests: the development
// pages sign anybody in.
import Provider from "oidc-provider";

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

const port = Number(env("PORT"));
const issuer = `http://127.0.0.1:${port}`;
const redirectUri = env("REDIRECT_URI");
const domain = env("EMAIL_DOMAIN");

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: env("CLIENT_ID"),
      client_secret: env("CLIENT_SECRET"),
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  // Put the scopes' claims in the ID token, as Google and Microsoft do: Streamlit reads
  // st.user from the ID token.
  conformIdTokenClaims: false,
  findAccount: async (ctx, id) => ({
    accountId: id,
    async claims() {
      return { sub: id, email: `${id}@${domain}`, email_verified: true, name: id };
    },
  }),
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: [env("CLIENT_SECRET")] },
});
// The development pages warn on every start; the tests know.
provider.on("server_error", (ctx, error) => console.error("server_error", error));

provider.listen(port, "127.0.0.1", () => console.log(`ready ${issuer}`));

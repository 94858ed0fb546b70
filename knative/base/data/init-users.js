// Runs once, when the MongoDB volume is empty (docker-entrypoint-initdb.d of the
// official image), as the root user. Creates the account the workloads use:
// readWrite on the contest database and nothing else.
const user = process.env.CERTAMEN_MONGODB_USER;
const password = process.env.CERTAMEN_MONGODB_PASSWORD;
const database = process.env.MONGODB_DATABASE;
if (!user || !password || !database) {
  throw new Error("CERTAMEN_MONGODB_USER, CERTAMEN_MONGODB_PASSWORD and MONGODB_DATABASE must be set");
}
db.getSiblingDB("admin").createUser({
  user: user,
  pwd: password,
  roles: [{ role: "readWrite", db: database }],
});

// Create or edit this workflow's one comment on a pull request, never letting an older run overwrite a newer one.
// Called from actions/github-script: `await require(path)({ github, context, core, marker, body })`.
// The comment starts with `<!-- <marker> run=<run number> -->`: the run number of the workflow grows with every
// push (a re-run keeps its number), so a cancelled, slow or re-run older run sees a higher number and stops.
module.exports = async ({ github, context, core, marker, body, limit = 65000 }) => {
  const stamp = `<!-- ${marker} run=${context.runNumber} -->`;
  const text = `${stamp}\n${body}`;
  const note = "\n\n_(comment cut at GitHub's size limit: see the run's job summary for the rest)_";
  const full = text.length <= limit ? text : text.slice(0, limit - note.length) + note;
  const { owner, repo } = context.repo;
  const issue_number = context.payload.pull_request.number;
  const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number });
  const pattern = new RegExp(`^<!-- ${marker} run=(\\d+) -->`);
  const mine = comments.find(c => c.user && c.user.type === "Bot" && pattern.test(c.body || ""));
  if (!mine) {
    await github.rest.issues.createComment({ owner, repo, issue_number, body: full });
    return "created";
  }
  const shown = Number(pattern.exec(mine.body)[1]);
  if (shown > context.runNumber) {
    core.info(`comment shows run ${shown}, newer than this run ${context.runNumber}: left as it is`);
    return "kept";
  }
  await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body: full });
  return "updated";
};

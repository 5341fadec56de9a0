// Fail closed unless the named deployment environment makes a person approve each job before it gets secrets.
// Called from actions/github-script: `await require(path)({ github, context, core, environment })`.
// The preview environment's secrets reach the pull request's own program; a required reviewer (not the
// author: prevent_self_review) is what stands between a pushed branch and those secrets.
module.exports = async ({ github, context, core, environment }) => {
  const { owner, repo } = context.repo;
  let env;
  try {
    ({ data: env } = await github.rest.repos.getEnvironment({ owner, repo, environment_name: environment }));
  } catch (error) {
    core.setFailed(`cannot read environment ${environment} (${error.status || error.message}): not previewing`);
    return false;
  }
  const problems = [];
  const rules = env.protection_rules || [];
  const reviewers = rules.find(r => r.type === "required_reviewers");
  if (!reviewers || !(reviewers.reviewers || []).length) {
    problems.push("has no required reviewers");
  } else if (reviewers.prevent_self_review !== true) {
    problems.push("lets the person who pushed approve their own run (prevent_self_review is off)");
  }
  if (problems.length) {
    core.setFailed(`environment ${environment} ${problems.join(" and ")}: not previewing with its secrets`);
    return false;
  }
  core.info(`environment ${environment} requires approval by ${reviewers.reviewers.length} reviewer(s)`);
  return true;
};

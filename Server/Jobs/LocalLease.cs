namespace CudaI2V.Server.Jobs;

/// <summary>A job taken from the in-process <see cref="JobManager"/>: changes go to its record under the manager's lock.</summary>
internal sealed class LocalLease(JobManager jobs, Job job, CancellationToken canceled) : IJobLease
{
    public Job Job { get; } = job;

    public CancellationToken Canceled { get; } = canceled;

    /// <summary>Never: in one process nobody else can take the job.</summary>
    public CancellationToken Abandoned => CancellationToken.None;

    public void Report(JobProgress progress) => jobs.Update(Job.Id, j => j with { Progress = progress }, persist: false);

    public void Update(Func<Job, Job> change) => jobs.Update(Job.Id, change, persist: false);

    public void Finish(Func<Job, Job> change) => jobs.Update(Job.Id, change, persist: true);

    public void Requeue() => jobs.Requeue(Job.Id);

    public void Dispose()
    {
        // The cancellation source belongs to the manager's entry; nothing to release here.
    }
}
